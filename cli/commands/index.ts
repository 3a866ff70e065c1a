// The commands: each is one module, cli/commands/<command>.ts, holding its help, its flags and its
// handler side by side, loaded only when the command runs or its help is asked for (startup stays
// fast). To add a command, write its module and add one line here.

import { EXIT } from '../../functions/exitCodes.ts';
import type { Help } from '../help.ts';

/** What a command module exports: its help topics (the command's, and its subcommands') and its handler. */
export interface CommandModule {
  topics: Record<string, Help>;
  run(argv: string[]): Promise<number>;
}

export interface Command {
  /** The line `etcd-replace --help` lists it with. */
  summary: string;
  load(): Promise<CommandModule>;
}

export const COMMANDS = {
  plan: { summary: 'show every step and the exact commands a replacement would run, changing nothing', load: () => import('./plan.ts') },
  run: { summary: 'replace a failed etcd member (resumes the same unfinished run)', load: () => import('./run.ts') },
  'restore-quorum': {
    summary: 'restore a cluster that lost quorum, from its best survivor or a verified snapshot, behind an approval',
    load: () => import('./restoreQuorum.ts'),
  },
  resume: { summary: 'resume an unfinished run (a replacement or a restore) by its ID', load: () => import('./resume.ts') },
  approve: { summary: 'approve or decline a restore of etcd quorum that waits for a person', load: () => import('./approve.ts') },
  probe: { summary: 'one observation: the members, and every returned former member fenced on the host', load: () => import('./probe.ts') },
  status: { summary: `an AWS execution as a run result: outcome, step timeline (exit ${EXIT.running} while it runs)`, load: () => import('./status.ts') },
  history: { summary: 'past runs: outcome, who started them, step timeline', load: () => import('./history.ts') },
  graph: { summary: 'the workflow as a Mermaid diagram', load: () => import('./graph.ts') },
  sandbox: { summary: 'build, inspect, break and remove local sandbox clusters', load: () => import('./sandbox.ts') },
  bench: { summary: 'benchmark the workflow against the scripted runbook; AWS cost per run', load: () => import('./bench.ts') },
} satisfies Record<string, Command>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

/** Every help topic of every command, by name ("plan", "sandbox up"): loads every command module. */
export async function allTopics(): Promise<Record<string, Help>> {
  const modules = await Promise.all(Object.values(COMMANDS).map((c) => c.load()));
  return Object.assign({}, ...modules.map((m) => m.topics)) as Record<string, Help>;
}

/** The help of the topic `words` name (`help sandbox up`), or undefined. */
export async function namedTopic(words: readonly string[]): Promise<Help | undefined> {
  if (!isCommand(words[0])) return undefined;
  const command: CommandModule = await COMMANDS[words[0]].load();
  const topics = command.topics;
  const name = words.join(' ');
  return Object.hasOwn(topics, name) ? topics[name] : undefined;
}
