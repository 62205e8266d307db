/**
 * The walk as a tool sees it: one {@link StepRecord} per descriptor read (Translator.probe, explain, the trace CLI and
 * the explorer show them). Only a traced walk builds them, off the walk loop, so they cost an untraced walk nothing.
 * @module
 */
import type { Regime } from "./regime.ts";

/** One descriptor read, for tools (see Translator.probe). */
export interface StepRecord {
  stage: Regime["stage"];
  level: number;
  /** log2 of the walk's granule: 12, 14 or 16. */
  granuleShift: number;
  /** The address the walk translates: stage 1, the IOVA within its TTB range; stage 2, the IPA. */
  inputAddr: number;
  /** Address of the table read (in a nested stage-1 walk, an IPA). */
  tableAddr: number;
  /** Address of the descriptor read (always a PA: in a nested stage-1 walk, after its stage-2 translation). */
  descAddr: number;
  descLo: number;
  descHi: number;
  decision: string;
}

/** The record of one descriptor read of a walk of `r`. */
export function step(
  r: Regime,
  inputAddr: number,
  level: number,
  tableAddr: number,
  descAddr: number,
  descLo: number,
  descHi: number,
  decision: string,
): StepRecord {
  return {
    stage: r.stage,
    level,
    granuleShift: r.granuleShift,
    inputAddr,
    tableAddr,
    descAddr,
    descLo,
    descHi,
    decision,
  };
}
