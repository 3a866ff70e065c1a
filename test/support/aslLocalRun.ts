// The local ASL runner lives in bench/aslLocalRun.ts (the cost model executes the compiled
// definition too); tests keep importing it from here.
export * from '../../bench/aslLocalRun.ts';
