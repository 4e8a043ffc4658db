/**
 * Batches written with this LSN are out-of-band re-sends (DLQ replay): a sink writes them
 * without the position fence and without moving its stored position. Real commit LSNs are > 0.
 */
export const REPLAY_LSN = 0n;
