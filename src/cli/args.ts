/**
 * Command-line arguments of a CLI command: options (`--name`, `--name value`, `--name=value`) and positional ones.
 * @module
 */
import { InputError, oneOf } from "./io.ts";

/** The options a command takes: a flag, or an option that takes a value (named in help and errors). */
export type OptionSpec = Readonly<Record<string, "flag" | "value">>;

/** One argument and where it is (for errors); a flag's value is `true`. */
export interface Given<T = string> {
  value: T;
  where: string;
}

/** Parsed arguments: options by name, positional arguments in order. */
export interface Args {
  options: Map<string, Given<string | true>>;
  positional: Given[];
}

/**
 * Splits `args` (what follows the command name, which is argument 1) by `spec`. `-` alone is positional (stdin).
 * An unknown option, or one given twice, or a missing value throws {@link InputError} naming the argument.
 */
export function parseArgs(args: readonly string[], spec: OptionSpec): Args {
  const options = new Map<string, Given<string | true>>();
  const positional: Given[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const where = `argument ${i + 2}`;
    if (arg === "-" || !arg.startsWith("--")) {
      positional.push({ value: arg, where });
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const kind = spec[name];
    if (kind === undefined) throw new InputError(`unknown option ${name} (${oneOf(Object.keys(spec))})`, where);
    if (options.has(name)) throw new InputError(`${name} given twice`, where);
    if (kind === "flag") {
      if (eq >= 0) throw new InputError(`${name} takes no value`, where);
      options.set(name, { value: true, where });
      continue;
    }
    const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined || value === "") throw new InputError(`${name} needs a value`, where);
    options.set(name, { value, where });
  }
  return { options, positional };
}

/** Whether flag `name` was given. */
export const flag = (args: Args, name: string): boolean => args.options.has(name);

/** The value of option `name` (one that takes a value), if given. */
export const value = (args: Args, name: string): string | undefined => {
  const v = args.options.get(name)?.value;
  return typeof v === "string" ? v : undefined;
};

/** The value of option `name`, which must be one of `allowed`'s keys; `fallback` when the option is absent. */
export function choice<T>(args: Args, name: string, allowed: Readonly<Record<string, T>>, fallback: T): T {
  const given = args.options.get(name);
  if (given === undefined) return fallback;
  if (typeof given.value !== "string" || !Object.hasOwn(allowed, given.value)) {
    throw new InputError(`${name} must be ${oneOf(Object.keys(allowed))}`, given.where);
  }
  return allowed[given.value];
}
