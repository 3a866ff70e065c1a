import { describe, expect, it } from 'vitest';
import { addToStartedSeconds } from '../../statemachine/voterWindow.ts';

describe('Function: addToStartedSeconds', () => {
  it('is the time from the plain member add to the new member started', () => {
    expect(addToStartedSeconds({ addedAsLearner: false, memberAddedAt: '2026-12-02T04:00:00.000Z', newMemberStartedAt: '2026-12-02T04:00:04.250Z' })).toBe(
      4.25,
    );
  });

  it('is null on the learner path, where the new member does not vote before it is promoted', () => {
    expect(addToStartedSeconds({ addedAsLearner: true, memberAddedAt: '2026-12-02T04:00:00.000Z', newMemberStartedAt: '2026-12-02T04:00:04.250Z' })).toBeNull();
  });

  it('is null while either instant is unknown or they are out of order', () => {
    expect(addToStartedSeconds({ addedAsLearner: false, memberAddedAt: '2026-12-02T04:00:00.000Z' })).toBeNull();
    expect(addToStartedSeconds({ addedAsLearner: false, newMemberStartedAt: '2026-12-02T04:00:00.000Z' })).toBeNull();
    expect(
      addToStartedSeconds({ addedAsLearner: false, memberAddedAt: '2026-12-02T04:00:05.000Z', newMemberStartedAt: '2026-12-02T04:00:00.000Z' }),
    ).toBeNull();
  });
});
