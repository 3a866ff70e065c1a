// Quorum arithmetic and the removal verdict: pure functions, every edge that decides a refusal.

import { describe, expect, it } from 'vitest';
import { DISASTER_RECOVERY_GUIDANCE, endsOdd, quorumForRemoval, quorumOf, type MemberHealth } from '../../statemachine/quorum.ts';

const m = (id: string, healthy: boolean, isLearner = false): MemberHealth => ({ id, name: `m-${id}`, isLearner, healthy });

describe('quorumOf', () => {
  it('is a strict majority of the voting members', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumOf)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });
});

describe('quorumForRemoval', () => {
  it('allows removing one failed member of three and of five (two failed of five too)', () => {
    expect(quorumForRemoval([m('a', true), m('b', true), m('c', false)], 'c')).toMatchObject({ ok: true, voters: 3, healthyVoters: 2 });
    expect(quorumForRemoval([m('a', true), m('b', true), m('c', true), m('d', true), m('e', false)], 'e').ok).toBe(true);
    const twoDown = quorumForRemoval([m('a', true), m('b', true), m('c', true), m('d', false), m('e', false)], 'e');
    expect(twoDown).toMatchObject({ ok: true, healthyVoters: 3 });
    expect(twoDown.reason).toBe('3 of 5 voting members answer; 3 needed after the change');
  });

  it('refuses when quorum is already lost', () => {
    const v = quorumForRemoval([m('a', true), m('b', false), m('c', false)], 'c');
    expect(v).toMatchObject({ ok: false, voters: 3 });
    expect(v.reason).toBe('the cluster has no quorum: 1 of 3 voting members answer and 2 are needed');
    expect(quorumForRemoval([m('a', true), m('b', true), m('c', false), m('d', false), m('e', false)], 'e').ok).toBe(false);
  });

  it('refuses removing a healthy member when the change would cost quorum', () => {
    // Two of three answer; removing one of the two answering leaves one healthy voter of two.
    const v = quorumForRemoval([m('a', true), m('b', true), m('c', false)], 'b');
    expect(v).toMatchObject({ ok: false, healthyVoters: 1 });
    expect(v.reason).toBe('removing the member would leave 1 healthy voting members where 2 are needed');
    // Three of five answer; removing an answering one leaves two where three are needed.
    expect(quorumForRemoval([m('a', true), m('b', true), m('c', true), m('d', false), m('e', false)], 'a').ok).toBe(false);
  });

  it('a learner casts no vote either way', () => {
    // Two voters of three answer; a healthy learner does not make up the missing vote.
    expect(quorumForRemoval([m('a', true), m('b', false), m('c', false), m('l', true, true)], 'c').ok).toBe(false);
    // A failed learner does not count among the voters that need a majority.
    expect(quorumForRemoval([m('a', true), m('b', true), m('c', true), m('l', false, true)], 'l')).toMatchObject({ ok: true, voters: 3, healthyVoters: 3 });
  });

  it('with the failed member already gone (null), checks quorum of what is left', () => {
    expect(quorumForRemoval([m('a', true), m('b', true)], null)).toMatchObject({ ok: true, voters: 2 });
    expect(quorumForRemoval([m('a', true), m('b', false)], null).ok).toBe(false);
  });

  it('an unknown failed id removes no vote', () => {
    expect(quorumForRemoval([m('a', true), m('b', true), m('c', false)], 'zz')).toMatchObject({ ok: true, healthyVoters: 2 });
  });

  it('an empty member list has no quorum', () => {
    expect(quorumForRemoval([], null).ok).toBe(false);
  });
});

describe('endsOdd', () => {
  it('accepts a replacement that ends odd and refuses one that ends even', () => {
    expect(endsOdd(3, 1, 1)).toBe(true);
    expect(endsOdd(5, 1, 1)).toBe(true);
    expect(endsOdd(4, 1, 1)).toBe(false);
    expect(endsOdd(2, 0, 1)).toBe(true); // resumed after the removal: 2 + 1
    expect(endsOdd(3, 0, 1)).toBe(false);
    expect(endsOdd(3, 1, 0)).toBe(false); // replacement already a member, failed still listed: 3 - 1
  });
});

describe('DISASTER_RECOVERY_GUIDANCE', () => {
  it('says membership will not be touched and how to restore from a snapshot', () => {
    expect(DISASTER_RECOVERY_GUIDANCE).toMatch(/will not try/);
    expect(DISASTER_RECOVERY_GUIDANCE).toMatch(/snapshot save/);
    expect(DISASTER_RECOVERY_GUIDANCE).toMatch(/snapshot restore/);
  });
});
