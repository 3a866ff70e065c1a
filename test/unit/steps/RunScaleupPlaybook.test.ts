// RunScaleupPlaybook (functions/steps/RunScaleupPlaybook.ts): the scaleup playbook as one job of the run on
// the installer host (RunScaleupPlaybook.sh), never a second one; the member counts as joined when it
// has started, whatever the playbook's exit code; a playbook that failed before it started is
// ScaleupFailedError naming the task and host. The sandbox runs the script and the real ansible-playbook
// (test/sandbox/ansiblePath.test.ts); here, the step's decisions.

import { describe, expect, it } from 'vitest';
import { RefusedError, ScaleupFailedError, ScaleupRunningError } from '../../../functions/errors.ts';
import { extraVars, RunScaleupPlaybook } from '../../../functions/steps/RunScaleupPlaybook.ts';
import { fakeMember } from '../../support/fakeCluster.ts';
import { confirmedContext, failure, NEW_ID, RUN_ID, SPARE, stepWorld, survivingMembers, type StepWorld } from '../../support/stepHarness.ts';

const ready = (extra = {}) =>
  confirmedContext({ failedMemberRemoved: true, addByPlaybook: true, options: { graceSeconds: 0, learner: 'auto', addMethod: 'ansible' }, ...extra });
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const RECAP = [
  'PLAY RECAP *****',
  'etcd-spare-0.example.test : ok=44 changed=22 unreachable=0 failed=0 skipped=3 rescued=0 ignored=0',
  'master-0.example.test : ok=12 changed=2 unreachable=0 failed=0 skipped=1 rescued=0 ignored=0',
].join('\n');
const FAILED = [
  'TASK [etcd : Enable etcd]',
  'fatal: [etcd-spare-0.example.test]: FAILED! => {"changed": true, "msg": "non-zero return code", "rc": 1}',
  RECAP,
].join('\n');
const done = (exit: number, digest: string) => ({ stdout: { state: 'done', exit, seconds: 61, uploaded: true, digest: b64(digest) } });
const started = () => [...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true)];
const unstarted = () => [...survivingMembers(), fakeMember(0xb0, '', SPARE.ip, false)];

/** The modes the step asked the script for, in order. */
const modes = (world: StepWorld) => world.runner.of('RunScaleupPlaybook').map((r) => r.args[4]);

describe('Step: RunScaleupPlaybook', () => {
  it('asks the installer host for the job with the failed host left out and the members’ quota, and records the PLAY RECAP', async () => {
    const world = stepWorld(started());
    world.runner.on('RunScaleupPlaybook', done(0, RECAP));
    const result = await RunScaleupPlaybook(ready({ scaleupVars: { etcd_quota_backend_bytes: '4294967296' } }), world.deps);
    const request = world.runner.of('RunScaleupPlaybook')[0]!;
    expect(request.host.name).toBe('master-0');
    expect(request.args.slice(0, 6)).toEqual([
      RUN_ID,
      '/usr/share/ansible/openshift-ansible',
      '/etc/ansible/hosts',
      '720',
      'report',
      'etcd_quota_backend_bytes=4294967296',
    ]);
    expect(request.args.slice(6)).toEqual(['master-2.example.test', 'master-2', '198.51.100.4']);
    expect(Object.keys(request.secrets ?? {})).toEqual(['UPLOAD_URL']);
    expect(result.output).toMatchObject({ newMemberId: NEW_ID, memberAdded: true, addedAsLearner: false, scaleup: { exitCode: 0, seconds: 61 } });
    expect(result.output.scaleup?.recap['master-0.example.test']).toEqual({
      ok: 12,
      changed: 2,
      unreachable: 0,
      failed: 0,
      skipped: 1,
      rescued: 0,
      ignored: 0,
    });
    expect(result.detail).toMatch(/^the scaleup playbook added and started member 00000000000000b0 \(etcd-spare-0\.example\.test\) in 61 s; PLAY RECAP /);
  });

  it('no job yet: checks the cluster, then starts one; a lost job that added no member is restarted', async () => {
    for (const [state, mode] of [
      ['none', 'start'],
      ['lost', 'restart'],
    ] as const) {
      const world = stepWorld();
      let n = 0;
      world.runner.on('RunScaleupPlaybook', () => {
        if (n++ === 0) return { stdout: { state } };
        world.cluster.members.push(fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true));
        return done(0, RECAP);
      });
      await RunScaleupPlaybook(ready(), world.deps);
      expect(modes(world)).toEqual(['report', mode]);
    }
  });

  it('a lost job (or none on record) after member add: ScaleupFailedError, never a second playbook', async () => {
    const world = stepWorld(unstarted());
    world.runner.on('RunScaleupPlaybook', { stdout: { state: 'lost' } });
    const error = await failure(RunScaleupPlaybook(ready(), world.deps));
    expect(error).toBeInstanceOf(ScaleupFailedError);
    expect(error.message).toMatch(/was lost on master-0 .* after it added member 00000000000000b0 at https:\/\/198\.51\.100\.9:2380, which has not started/);
    expect(modes(world)).toEqual(['report']);
  });

  it('a failure before the member started: ScaleupFailedError with the task, the host and the recap', async () => {
    const world = stepWorld(unstarted());
    world.runner.on('RunScaleupPlaybook', done(2, FAILED));
    const error = await failure(RunScaleupPlaybook(ready(), world.deps));
    expect(error).toBeInstanceOf(ScaleupFailedError);
    expect(error.message).toMatch(
      /^the scaleup playbook failed \(exit 2\) at TASK \[etcd : Enable etcd\] on etcd-spare-0\.example\.test: non-zero return code; member 00000000000000b0 was added at .* and has not started; PLAY RECAP /,
    );
    expect(error.message).toContain(`output in runs/${RUN_ID}/scaleup-playbook.log`);
  });

  it('a failure after the member started: joined, the rest left to the steps after it', async () => {
    const world = stepWorld(started());
    world.runner.on('RunScaleupPlaybook', done(2, FAILED));
    const result = await RunScaleupPlaybook(ready(), world.deps);
    expect(result.output).toMatchObject({
      newMemberId: NEW_ID,
      memberAdded: true,
      scaleup: { exitCode: 2, failedTask: 'etcd : Enable etcd', failedHost: 'etcd-spare-0.example.test' },
    });
    expect(result.detail).toMatch(/after member 00000000000000b0 \(etcd-spare-0\.example\.test\) had started: the steps after this one redo what it left/);
  });

  it('still running after the wait: ScaleupRunningError (the next try waits for the same job)', async () => {
    const world = stepWorld();
    world.runner.exits('RunScaleupPlaybook', 4, 'the scaleup playbook still runs after 720s, at TASK [etcd : Verify cluster is healthy]');
    const error = await failure(RunScaleupPlaybook(ready(), world.deps));
    expect(error).toBeInstanceOf(ScaleupRunningError);
    expect(modes(world)).toEqual(['report']);
  });

  it('refuses before the failed member is removed, and a started member at the URL that this run did not add', async () => {
    const world = stepWorld(started());
    expect(await failure(RunScaleupPlaybook(ready({ failedMemberRemoved: false }), world.deps))).toBeInstanceOf(RefusedError);
    world.runner.on('RunScaleupPlaybook', { stdout: { state: 'none' } });
    const error = await failure(RunScaleupPlaybook(ready(), world.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/already runs on https:\/\/198\.51\.100\.9:2380, and this run did not add it/);
  });

  it('passes the variables the new member must share as VAR=VALUE, or - for none', () => {
    expect(extraVars({})).toBe('-');
    expect(extraVars({ scaleupVars: { etcd_quota_backend_bytes: '8589934592' } })).toBe('etcd_quota_backend_bytes=8589934592');
  });
});
