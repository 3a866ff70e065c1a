// PLACEHOLDER (written for the Lambda handler of issue 6 so that it typechecks and bundles).
// The AWS adapters module replaces this file: awsDeps() builds the steps' ports over AWS.

export async function awsDeps(): Promise<never> {
  throw new Error('functions/adapters/aws/deps.ts is a placeholder: the AWS ports are not wired yet');
}
