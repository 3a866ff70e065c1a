import { describe, expect, it } from 'vitest';
import {
  compileAsl,
  functionArnPlaceholder,
  LAMBDA_INVOKE_RESOURCE,
  LAMBDA_SERVICE_RETRIER,
  taskStateNames,
  transitionTargets,
  type AslChoiceState,
  type AslDefinition,
  type AslState,
  type AslTaskState,
} from '../../statemachine/asl.ts';
import { replaceMemberMachine } from '../../statemachine/machine.ts';
import { REFUSED_ERRORS, STATES, TASKS, taskSpec } from '../../statemachine/spec.ts';
import { validateAsl } from '../support/aslValidate.ts';

const arn = (name: string) => `arn:aws:lambda:eu-west-1:123456789012:function:etcd-replace-${name}`;
const asl = compileAsl(replaceMemberMachine, { functionArn: arn });

function state(name: string): AslState {
  const s = asl.States[name];
  if (!s) throw new Error(`no state ${name}`);
  return s;
}
function taskState(name: string): AslTaskState {
  const s = state(name);
  if (s.Type !== 'Task') throw new Error(`${name} is not a Task`);
  return s;
}
function choiceState(name: string): AslChoiceState {
  const s = state(name);
  if (s.Type !== 'Choice') throw new Error(`${name} is not a Choice`);
  return s;
}

describe('Function: compileAsl', () => {
  describe('States', () => {
    it('has exactly the machine states, with the same names, in the same order', () => {
      expect(Object.keys(asl.States)).toEqual(Object.keys(replaceMemberMachine.root.states));
      expect(Object.keys(asl.States)).toEqual(STATES.map((s) => s.name));
    });

    it('starts where the machine starts, in JSONPath, with a whole-run timeout and a comment', () => {
      expect(asl.StartAt).toBe('ValidateInput');
      expect(asl.QueryLanguage).toBe('JSONPath');
      expect(asl.TimeoutSeconds).toBe(7200);
      expect(asl.Comment).toMatch(/ReplaceFailedEtcdMember/);
    });

    it('maps each kind of spec to its ASL type', () => {
      const expected = { task: 'Task', choice: 'Choice', outcome: 'Choice', wait: 'Wait', succeed: 'Succeed', fail: 'Fail' } as const;
      for (const spec of STATES) expect({ name: spec.name, type: state(spec.name).Type }).toEqual({ name: spec.name, type: expected[spec.kind] });
      expect(taskStateNames(asl)).toEqual(TASKS.map((t) => t.name));
    });

    it('only transitions to states it defines', () => {
      for (const [name, s] of Object.entries(asl.States)) {
        for (const target of transitionTargets(s)) expect({ from: name, known: target in asl.States }).toEqual({ from: name, known: true });
      }
    });
  });

  describe('Tasks', () => {
    it('compiles AcquireLock to a Lambda invoke with the whole context as payload', () => {
      expect(taskState('AcquireLock')).toEqual({
        Type: 'Task',
        Comment: taskSpec('AcquireLock').summary,
        Resource: LAMBDA_INVOKE_RESOURCE,
        Parameters: {
          FunctionName: arn('AcquireLock'),
          Payload: { step: 'AcquireLock', 'context.$': '$', 'executionName.$': '$$.Execution.Name' },
        },
        OutputPath: '$.Payload',
        TimeoutSeconds: 30,
        Retry: [
          {
            ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
            IntervalSeconds: 2,
            MaxAttempts: 6,
            BackoffRate: 2,
          },
          {
            ErrorEquals: ['EtcdUnavailableError', 'EtcdUnhealthyClusterError', 'ScriptTimedOutError', 'ArtifactStoreError'],
            IntervalSeconds: 1,
            MaxAttempts: 4,
            BackoffRate: 2,
            MaxDelaySeconds: 8,
          },
          // A waiting run tries again every 5 s, for as long as options.lockWaitSeconds may ask (3600 s).
          { ErrorEquals: ['LockWaitingError'], IntervalSeconds: 5, MaxAttempts: 720, BackoffRate: 1 },
        ],
        Catch: [
          { ErrorEquals: ['LockHeldError'], ResultPath: '$.error', Next: 'Refused' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Failed' },
        ],
        Next: 'IsCoveredByAnotherRun',
      });
    });

    it('gives every task the Lambda service retrier first, then the spec retry rules field for field', () => {
      for (const spec of TASKS) {
        const retry = taskState(spec.name).Retry;
        expect(retry[0]).toEqual(LAMBDA_SERVICE_RETRIER);
        expect({ name: spec.name, retry: retry.slice(1) }).toEqual({
          name: spec.name,
          retry: spec.retry.map((r) => ({
            ErrorEquals: r.errors,
            IntervalSeconds: r.intervalSeconds,
            MaxAttempts: r.maxAttempts,
            BackoffRate: r.backoffRate,
            ...(r.maxDelaySeconds === undefined ? {} : { MaxDelaySeconds: r.maxDelaySeconds }),
          })),
        });
      }
    });

    it('keeps the retry rules of StartNewMember: one more try without progress, two more attempts of waiting while the member catches up', () => {
      const retry = taskState('StartNewMember').Retry;
      expect(retry.map((r) => r.ErrorEquals[0])).toEqual([
        'Lambda.ServiceException',
        'EtcdUnavailableError',
        'HostUnreachableError',
        'ScriptFailedError',
        'NewMemberFailedError',
        'NewMemberCatchingUpError',
      ]);
      expect(retry.slice(-2)).toEqual([
        { ErrorEquals: ['NewMemberFailedError'], IntervalSeconds: 2, MaxAttempts: 1, BackoffRate: 1 },
        { ErrorEquals: ['NewMemberCatchingUpError'], IntervalSeconds: 2, MaxAttempts: 2, BackoffRate: 1 },
      ]);
    });

    it('routes catches as the spec does, writing the error to $.error or $.cleanupError', () => {
      for (const spec of TASKS) {
        const t = taskState(spec.name);
        expect({ name: spec.name, Catch: t.Catch, TimeoutSeconds: t.TimeoutSeconds, Next: t.Next }).toEqual({
          name: spec.name,
          Catch: spec.catch.map((c) => ({
            ErrorEquals: c.errors,
            ResultPath: c.resultField === 'none' ? null : `$.${c.resultField ?? 'error'}`,
            Next: c.next,
          })),
          TimeoutSeconds: spec.timeoutSeconds,
          Next: spec.next,
        });
      }
      expect(taskState('StartNewMember').Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CompensateNewMember' }]);
      expect(taskState('CompensateNewMember').Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.cleanupError', Next: 'DiscardKeyBundle' }]);
      // A closing step's own failure keeps the run's errors as they are (ResultPath null).
      expect(taskState('DiscardKeyBundle').Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'TerminateLaunchedHost' }]);
      expect(taskState('TerminateLaunchedHost').Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'RecordClusterState' }]);
      expect(taskState('ReleaseLock').Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.cleanupError', Next: 'RouteOutcome' }]);
    });

    it('puts States.ALL last in every Catch and never in a Retry', () => {
      for (const name of taskStateNames(asl)) {
        const t = taskState(name);
        t.Catch.forEach((c, i) => {
          if (c.ErrorEquals.includes('States.ALL')) {
            expect(c.ErrorEquals).toEqual(['States.ALL']);
            expect(i).toBe(t.Catch.length - 1);
          }
        });
        for (const r of t.Retry) expect(r.ErrorEquals).not.toContain('States.ALL');
      }
    });

    it('uses substitution placeholders for function ARNs by default', () => {
      const placeholders = compileAsl();
      expect(taskState('AddMember').Parameters.FunctionName).toBe(arn('AddMember'));
      const addMember = placeholders.States.AddMember as AslTaskState;
      expect(addMember.Parameters.FunctionName).toBe('${AddMemberFunctionArn}');
      expect(functionArnPlaceholder('AddMember')).toBe('${AddMemberFunctionArn}');
    });
  });

  describe('Choices, waits and finals', () => {
    it('compiles a guard to a Choice that is true only when the field is present, boolean and true', () => {
      expect(choiceState('IsFailedHostReachable')).toEqual({
        Type: 'Choice',
        Comment: expect.any(String),
        Choices: [
          {
            And: [
              { Variable: '$.failedHostReachable', IsPresent: true },
              { Variable: '$.failedHostReachable', IsBoolean: true },
              { Variable: '$.failedHostReachable', BooleanEquals: true },
            ],
            Next: 'BackUpFailedMemberData',
          },
        ],
        Default: 'IsAnotherMemberToRemove',
      });
      expect(choiceState('IsAnotherMemberToRemove').Default).toBe('IsNewMemberInPlace');
      expect(choiceState('ArePeerUrlsOnLocalhost').Default).toBe('IsMemberAddedByPlaybook');
      expect(choiceState('IsMemberAddedByPlaybook').Choices[0]?.Next).toBe('PrepareInventory');
      expect(choiceState('IsMemberAddedByPlaybook').Default).toBe('ConfigureNewMember');
      expect(choiceState('IsCertificateIssuedByPlaybook').Choices[0]?.Next).toBe('CheckScaleupPlaybook');
      expect(choiceState('IsCertificateIssuedByPlaybook').Default).toBe('IssueCertificates');
      expect(choiceState('IsNewMemberInPlace').Default).toBe('ArePeerUrlsOnLocalhost');
      expect(choiceState('IsNewMemberLearner').Choices[0]?.Next).toBe('PromoteNewMember');
    });

    it('routes a request an earlier run carried out to the short path: no membership change, the failed host, then verify and the masters', () => {
      const asl = compileAsl();
      expect(choiceState('IsAlreadyReplaced')).toMatchObject({
        Choices: [{ And: expect.arrayContaining([{ Variable: '$.alreadyReplaced', BooleanEquals: true }]), Next: 'StopFailedMember' }],
        Default: 'CheckClusterHealth',
      });
      expect(choiceState('IsNewMemberInPlace').Choices[0]).toMatchObject({ Next: 'VerifyClusterHealth' });
      // Every state reachable from IsAlreadyReplaced's true branch, before the closing steps: no step that changes membership.
      const seen = new Set<string>();
      const walk = (name: string): void => {
        if (seen.has(name) || name === 'DiscardKeyBundle') return;
        seen.add(name);
        const state = asl.States[name]!;
        const nexts = state.Type === 'Choice' ? [...state.Choices.map((c) => c.Next), state.Default] : 'Next' in state && state.Next ? [state.Next] : [];
        // The short path replaces one member: the per-member loops' choices take their way out.
        const onPath =
          state.Type === 'Choice' && (name === 'IsFailedHostReachable' || name === 'IsNewMemberInPlace')
            ? nexts.filter((n) => n !== 'ArePeerUrlsOnLocalhost')
            : state.Type === 'Choice' && name.startsWith('IsAnotherMember')
              ? [state.Default]
              : nexts;
        for (const n of onPath) walk(n);
      };
      walk('StopFailedMember');
      expect([...seen]).toEqual([
        'StopFailedMember',
        'IsFailedHostReachable',
        'BackUpFailedMemberData',
        'IsAnotherMemberToRemove',
        'IsNewMemberInPlace',
        'VerifyClusterHealth',
        'UpdateInventory',
        'IsAnotherMemberToAdd',
        'RollMasters',
        'UpdateFlannel',
      ]);
    });

    it('routes the outcome on $.error: none to Succeeded, a refusal to Refused, anything else to Failed', () => {
      expect(choiceState('RouteOutcome')).toEqual({
        Type: 'Choice',
        Comment: expect.any(String),
        Choices: [
          { Not: { Variable: '$.error', IsPresent: true }, Next: 'Succeeded' },
          {
            And: [{ Variable: '$.error.Error', IsPresent: true }, { Or: REFUSED_ERRORS.map((e) => ({ Variable: '$.error.Error', StringEquals: e })) }],
            Next: 'Refused',
          },
        ],
        Default: 'Failed',
      });
    });

    it('waits the grace window read from the context', () => {
      expect(state('WaitGraceWindow')).toEqual({
        Type: 'Wait',
        Comment: expect.any(String),
        TimestampPath: '$.confirmFailureAfter',
        Next: 'ConfirmMemberFailed',
      });
    });

    it('ends on Succeed and on Fail states that report the recorded error', () => {
      expect(state('Succeeded')).toMatchObject({ Type: 'Succeed' });
      for (const name of ['Failed', 'Refused']) {
        expect(state(name)).toEqual({ Type: 'Fail', Comment: expect.any(String), ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
      }
    });
  });

  describe('Determinism and validity', () => {
    it('compiles the same machine to the same definition and the same JSON string', () => {
      const again = compileAsl(replaceMemberMachine, { functionArn: arn });
      expect(again).toEqual(asl);
      expect(JSON.stringify(again)).toBe(JSON.stringify(asl));
      expect(JSON.stringify(compileAsl())).toBe(JSON.stringify(compileAsl()));
    });

    it('does not share mutable structure with the spec', () => {
      const copy: AslDefinition = compileAsl(replaceMemberMachine, { functionArn: arn });
      (copy.States.AcquireLock as AslTaskState).Retry[1]?.ErrorEquals.push('Mutated');
      (copy.States.AcquireLock as AslTaskState).Retry[0]?.ErrorEquals.push('Mutated');
      expect(taskSpec('AcquireLock').retry[0]?.errors).not.toContain('Mutated');
      expect(LAMBDA_SERVICE_RETRIER.ErrorEquals).not.toContain('Mutated');
    });

    it('passes asl-validator, with real ARNs and with substitution placeholders', () => {
      const withArns = validateAsl(asl);
      expect(withArns.errorsText).toBe('');
      expect(withArns.isValid).toBe(true);
      expect(validateAsl(compileAsl()).isValid).toBe(true);
      // The validator works on a copy: the definition is left as compiled.
      expect(JSON.stringify(asl)).toBe(JSON.stringify(compileAsl(replaceMemberMachine, { functionArn: arn })));
    });

    it('is caught by asl-validator when a transition target is missing', () => {
      const broken = structuredClone(asl) as AslDefinition;
      (broken.States.AcquireLock as AslTaskState).Next = 'NoSuchState';
      expect(validateAsl(broken).isValid).toBe(false);
    });

    it('refuses a machine whose state names Step Functions would reject', () => {
      const bad = replaceMemberMachine.provide({});
      const states = bad.root.states as Record<string, unknown>;
      const renamed = { ...states, 'Bad name!': states.ValidateInput };
      const fake = { ...bad, config: bad.config, id: bad.id, root: { states: renamed } } as unknown as typeof replaceMemberMachine;
      expect(() => compileAsl(fake, { functionArn: arn })).toThrow(/not a valid Step Functions state name/);
    });
  });
});
