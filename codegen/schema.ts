/**
 * The shape of `registers.yaml`, the first of the two validation passes (spec.ts runs the semantic checks): which keys
 * each entry has, their types, and required descriptions. Unknown keys are errors.
 * @module
 */
import { z } from "zod";

const description = z.string().trim().min(1, "missing description");
// YAML reads an unquoted integer as a double: above 2^53 it silently rounds, so such values must be quoted.
const safeInt = z.number().int().nonnegative().refine(Number.isSafeInteger, 'above 2^53: quote it ("0x...")');
const intLike = z.union([safeInt, z.string().regex(/^(0x[0-9a-fA-F_]+|0b[01_]+|[0-9_]+)$/, "not an integer")]);
const bitsSpec = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+(:\d+)?$/, 'bits must be "hi:lo"')]);

const fieldSchema = z.object({
  bits: bitsSpec,
  description,
  enum: z.string().optional(),
  shift: z.number().int().min(1, "shift is 1 to 63").max(63, "shift is 1 to 63").optional(),
  signed: z.literal(true, { errorMap: () => ({ message: "signed is true or absent" }) }).optional(),
  max: safeInt.optional(),
  access: z.enum(["RO", "RW"]).optional(),
}).strict();

const fieldsSchema = z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, "bad field name"), fieldSchema);

const attributeSchema = z.object({
  type: z.string().regex(/^(int|bool|[A-Z][A-Z0-9_]*)$/, 'type is "int", "bool" or an enum name'),
  description,
  optional: z.boolean().optional(),
  unique: z.boolean().optional(),
}).strict();

const attributeValue = z.union([z.number(), z.boolean(), z.string()], {
  errorMap: () => ({ message: "an attribute is a number, true or false, or a value name" }),
});

const enumSchema = z.object({
  description,
  ref: z.string().optional(),
  width: z.number().int().min(1).max(32).optional(),
  attributes: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/, "attribute names are lower_snake"), attributeSchema)
    .optional(),
  values: z.record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "bad enum value name (a TypeScript identifier)"),
    z.object({ value: intLike, description }).catchall(attributeValue),
  ),
  reserved: z.record(z.string(), z.object({ as: z.string().optional(), description }).strict()).optional(),
}).strict();

const fieldsetSchema = z.object({
  description,
  ref: z.string().optional(),
  bits: z.union([z.literal(32), z.literal(64), z.literal(128), z.literal(256), z.literal(512)]),
  extends: z.string().optional(),
  fields: fieldsSchema.optional(),
}).strict();

const registerSchema = z.object({
  offset: intLike,
  width: z.union([z.literal(32), z.literal(64)]),
  access: z.enum(["RO", "RW", "RAZ/WI"]),
  reset: intLike,
  state: z.enum(["saved", "id", "derived", "none"]),
  proto: z.number().int().min(1).max(536870911, "proto numbers stop at 536870911").refine(
    (n) => n < 19000 || n > 19999,
    "proto numbers 19000-19999 are reserved by protobuf",
  ).optional(),
  description,
  ref: z.string().optional(),
  fields: fieldsSchema.optional(),
  fieldset: z.string().optional(),
}).strict();

const commandSchema = z.object({
  opcode: z.number().int().min(0).max(255),
  description,
  ref: z.string().optional(),
  extends: z.string().optional(),
  fields: fieldsSchema.optional(),
}).strict();

const eventSchema = z.object({
  type: z.number().int().min(0).max(255),
  description,
  ref: z.string().optional(),
  extends: z.string().optional(),
  fields: fieldsSchema.optional(),
}).strict();

const savedSchema = z.object({
  proto: z.number().int().min(3, "proto numbers 1 and 2 are the header's").max(536870911).refine(
    (n) => n < 19000 || n > 19999,
    "proto numbers 19000-19999 are reserved by protobuf",
  ),
  fieldset: z.string(),
  description,
  ref: z.string().optional(),
}).strict();

/** The whole file's shape. */
export const specSchema = z.object({
  meta: z.object({
    name: z.string(),
    spec: z.string(),
    schema_version: z.number().int().min(1),
  }).strict(),
  enums: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, "enum names are UPPER_SNAKE"), enumSchema),
  fieldsets: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, "fieldset names are UPPER_SNAKE"), fieldsetSchema),
  registers: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, "register names are UPPER_SNAKE"), registerSchema),
  commands: z.record(z.string().regex(/^CMD_[A-Z0-9_]+$/, "command names start with CMD_"), commandSchema),
  events: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, "event names are UPPER_SNAKE"), eventSchema),
  saved: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, "saved record names are UPPER_SNAKE"), savedSchema)
    .optional(),
}).strict();

/** The spec as written. */
export type RawSpec = z.infer<typeof specSchema>;
/** A field as written. */
export type RawField = z.infer<typeof fieldSchema>;
/** An enum as written, for the meaning checks of meanings.ts. */
export type RawEnum = z.infer<typeof enumSchema>;
