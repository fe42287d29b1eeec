// Every fuzz target, by area. The runner draws each case's target by weight.
import { lowlevelTarget } from './lowlevel';
import { poolTarget } from './pool';
import { rxTarget } from './rx';
import { socketCreate } from './socket-create';
import { socketMethods } from './socket-methods';
import { systemdTarget } from './systemd';
import type { Target } from './target';

export const targets: readonly Target[] = [socketMethods, socketCreate, lowlevelTarget, rxTarget, poolTarget, systemdTarget];
