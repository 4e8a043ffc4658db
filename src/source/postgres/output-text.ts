import type { TypeDecoders } from "./type-decoders.ts";

/** bpchar, inet, boolean: their cast to text (pg_cast) is a function other than the output function. */
const BY_CAST_FUNCTION = new Set([1042, 869, 16]);

/**
 * A column read as text exactly as the stream carries it (the type's output function), for the
 * snapshot and for `verify`'s source side. ::text is that, except for the types with a cast
 * function of their own: char(n) trims the padding, inet adds the /32 or /128 mask a host
 * address prints without, boolean says true/false for t/f. concat() prints with the output
 * function; a domain over one of these takes its base type's cast. `ident` is the quoted name.
 */
export function asOutputText(ident: string, typeOid: number, types: TypeDecoders): string {
  return BY_CAST_FUNCTION.has(types.baseType(typeOid)) ? `case when ${ident} is null then null else concat(${ident}) end` : `${ident}::text`;
}
