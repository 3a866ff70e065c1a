/** The values for which `fn` does not throw an error of `type` (any other error propagates). */
export function accepted<T>(values: T[], fn: (value: T) => unknown, type: new (...args: never[]) => Error): T[] {
  return values.filter((value) => {
    try {
      fn(value);
      return true;
    } catch (error) {
      if (error instanceof type) return false;
      throw error;
    }
  });
}
