// The in-memory ports the step tests stand on (test/support/fakePorts.ts) keep the contracts the real
// adapters keep: the lock passes the LockPort contract FileLock and DynamoLock pass, so what the
// AcquireLock and ReleaseLock tests show of the steps holds on either target.

import { lockContract } from '../support/lockContract.ts';
import { FakeLock } from '../support/fakePorts.ts';

lockContract('FakeLock (test/support/fakePorts.ts)', (now) => new FakeLock(now));
