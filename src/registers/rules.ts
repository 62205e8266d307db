/**
 * The storage rules of every guest-writable register: which bits a register can hold given the advertised features
 * (IHI 0070 6.3), so reserved and unimplemented bits are never stored. The device applies {@link sanitize} to every
 * guest write; save/restore applies the same function to validate a blob (a stored value is legal iff sanitize
 * leaves it unchanged).
 * @module
 */
import {
  CMDQ_CONS,
  CMDQ_CONS_ERR,
  CR0,
  CR2,
  GERROR,
  GERROR_IRQ_CFG0,
  IDR0,
  IDR0_ST_LEVEL,
  IDR1,
  IDR5,
  IDR5_OAS_BITS,
  IRQ_CTRL,
  REG,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  STRTAB_BASE_CFG_FMT,
  STRTAB_BASE_CFG_FMT_EFFECTIVE,
  STRTAB_BASE_CFG_SPLIT_EFFECTIVE,
} from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import { fieldMask, registerAt, word } from "./regfile.ts";
import { DWORD_BYTES, WORD_BYTES } from "../core/numbers.ts";
import { queueIndexMask, QUEUES } from "./ring.ts";

/** Page-0 aliases of the page-1 PROD/CONS registers (the model aliases them, IHI 0070 6.2.1). */
export const ALIASES: ReadonlyMap<number, number> = new Map([
  [REG.EVENTQ_PROD_P0, REG.EVENTQ_PROD],
  [REG.EVENTQ_CONS_P0, REG.EVENTQ_CONS],
  [REG.PRIQ_PROD_P0, REG.PRIQ_PROD],
  [REG.PRIQ_CONS_P0, REG.PRIQ_CONS],
]);

const W_IDR0 = word(REG.IDR0);
const W_IDR1 = word(REG.IDR1);
const W_IDR5 = word(REG.IDR5);
const has = (words: Uint32Array, f: Field, w: number) => f.get(words, w) !== 0;

/** Registers that exist only with a feature; without it they are RES0 (stored as 0). */
function present(words: Uint32Array, offset: number): boolean {
  const msi = has(words, IDR0.MSI, W_IDR0);
  const pri = has(words, IDR0.PRI, W_IDR0);
  switch (offset) {
    case REG.GERROR_IRQ_CFG0:
    case REG.GERROR_IRQ_CFG1:
    case REG.GERROR_IRQ_CFG2:
    case REG.EVENTQ_IRQ_CFG0:
    case REG.EVENTQ_IRQ_CFG1:
    case REG.EVENTQ_IRQ_CFG2:
      return msi;
    case REG.PRIQ_IRQ_CFG0:
    case REG.PRIQ_IRQ_CFG1:
    case REG.PRIQ_IRQ_CFG2:
      return msi && pri;
    case REG.PRIQ_BASE:
    case REG.PRIQ_PROD:
    case REG.PRIQ_CONS:
      return pri;
    case REG.GATOS_CTRL:
    case REG.GATOS_SID:
    case REG.GATOS_ADDR:
    case REG.GATOS_PAR:
      return has(words, IDR0.ATOS, W_IDR0);
  }
  return true;
}

/** Clears `field` in the scratch pair. */
const clear = (v: Uint32Array, f: Field) => f.set(v, 0);

/** Masks an address field to the implemented OAS (bits at and above OAS are RES0). */
function maskAddress(words: Uint32Array, v: Uint32Array, f: Field & { shift?: number }): void {
  const oas = IDR5_OAS_BITS[IDR5.OAS.get(words, W_IDR5)]!;
  const shift = f.shift ?? 0;
  const keep = oas - shift;
  if (keep < f.width) f.set(v, f.get(v) % 2 ** keep);
}

const scratch = new Uint32Array(DWORD_BYTES / WORD_BYTES); // a 64-bit register's words

/**
 * The value register `offset` stores when written with `[lo, hi]`, given the ID registers and queue geometry in
 * `words`. Applies: the field mask (reserved bits never stored), feature-gated RES0 fields and registers, queue and
 * stream table LOG2SIZE clamps (IDR1), legal SPLIT/FMT, addresses masked to the OAS, and PROD/CONS masked to the
 * queue's index+wrap bits. Read-only fields inside a register (CMDQ_CONS.ERR) pass through: the caller merges them.
 */
export function sanitize(words: Uint32Array, offset: number, lo: number, hi: number): [number, number] {
  offset = ALIASES.get(offset) ?? offset;
  const r = registerAt(offset);
  if (r === undefined || r.offset !== offset || r.access !== "RW" || !present(words, offset)) return [0, 0];
  const [mlo, mhi] = fieldMask(r);
  const v = scratch;
  v[0] = lo & mlo;
  v[1] = hi & mhi;
  switch (offset) {
    case REG.CR0:
      if (!has(words, IDR0.PRI, W_IDR0)) clear(v, CR0.PRIQEN);
      if (!has(words, IDR0.ATS, W_IDR0)) clear(v, CR0.ATSCHK);
      if (!has(words, IDR0.VMW, W_IDR0)) clear(v, CR0.VMW);
      break;
    case REG.CR2:
      if (!has(words, IDR0.Hyp, W_IDR0)) clear(v, CR2.E2H);
      if (!has(words, IDR0.ATSRECERR, W_IDR0)) clear(v, CR2.REC_CFG_ATS);
      break;
    case REG.IRQ_CTRL:
      if (!has(words, IDR0.PRI, W_IDR0)) clear(v, IRQ_CTRL.PRIQ_IRQEN);
      break;
    case REG.GERRORN:
      if (!has(words, IDR0.PRI, W_IDR0)) clear(v, GERROR.PRIQ_ABT_ERR), clear(v, GERROR.MSI_PRIQ_ABT_ERR);
      if (!has(words, IDR0.MSI, W_IDR0)) {
        for (const f of [GERROR.MSI_CMDQ_ABT_ERR, GERROR.MSI_EVENTQ_ABT_ERR, GERROR.MSI_GERROR_ABT_ERR]) clear(v, f);
        clear(v, GERROR.MSI_PRIQ_ABT_ERR);
      }
      clear(v, GERROR.CMDQP_ERR); // no enhanced command queues (IDR1.ECMDQ = 0)
      break;
    case REG.GERROR_IRQ_CFG0:
    case REG.EVENTQ_IRQ_CFG0:
    case REG.PRIQ_IRQ_CFG0:
      maskAddress(words, v, GERROR_IRQ_CFG0.ADDR);
      break;
    case REG.STRTAB_BASE:
      maskAddress(words, v, STRTAB_BASE.ADDR);
      break;
    case REG.STRTAB_BASE_CFG: {
      const sidBits = IDR1.SIDSIZE.get(words, W_IDR1);
      if (STRTAB_BASE_CFG.LOG2SIZE.get(v) > sidBits) STRTAB_BASE_CFG.LOG2SIZE.set(v, sidBits);
      // Reserved FMT encodings behave as linear, and so does every one without 2-level support (IHI 0070 6.3.25).
      const twoLevel = IDR0.ST_LEVEL.get(words, W_IDR0) === IDR0_ST_LEVEL.TWO_LEVEL;
      const fmt = STRTAB_BASE_CFG_FMT_EFFECTIVE[STRTAB_BASE_CFG.FMT.get(v)];
      STRTAB_BASE_CFG.FMT.set(v, twoLevel ? fmt : STRTAB_BASE_CFG_FMT.LINEAR);
      // SPLIT matters only for a 2-level table; there a reserved value behaves as 6 (IHI 0070 6.3.25: "Other values
      // are reserved, behave as 6"). With a linear table it is ignored and kept as written.
      if (STRTAB_BASE_CFG.FMT.get(v) === STRTAB_BASE_CFG_FMT.TWO_LEVEL) {
        STRTAB_BASE_CFG.SPLIT.set(v, STRTAB_BASE_CFG_SPLIT_EFFECTIVE[STRTAB_BASE_CFG.SPLIT.get(v)]);
      }
      break;
    }
    case REG.CMDQ_CONS:
      if (CMDQ_CONS.ERR.get(v) > CMDQ_CONS_ERR.CERROR_ATC_INV_SYNC) CMDQ_CONS.ERR.set(v, CMDQ_CONS_ERR.CERROR_NONE);
      break;
  }
  for (const q of QUEUES) {
    if (offset === q.base) {
      const max = q.maxLog2.get(words, W_IDR1);
      if (q.log2.get(v) > max) q.log2.set(v, max);
      maskAddress(words, v, q.addr);
    } else if (offset === q.prod) {
      q.wr.set(v, q.wr.get(v) & queueIndexMask(words, q));
    } else if (offset === q.cons) {
      q.rd.set(v, q.rd.get(v) & queueIndexMask(words, q));
    }
  }
  return [v[0], v[1]];
}
