/**
 * The wire protocol version, carried in every encoded message as the envelope field `v`.
 *
 * A decoder accepts exactly this version and rejects every other value with `BAD_VERSION`:
 * there are no minor versions and no negotiation. Any change that an existing decoder would
 * reject or read differently (a new field, a new message type, a new value kind, a changed
 * limit that makes valid messages invalid) bumps it.
 */
export const PROTOCOL_VERSION = 1;
