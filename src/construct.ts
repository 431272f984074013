// The library's classes (Context, Tensor, the weights, Group, Comm) are made only by sparq: by
// open(), an op, a factory. Their constructors are private (protected for PackedWeight), so
// TypeScript refuses `new Tensor()`; JavaScript callers meet checkConstructed instead of a
// TypeError from deep inside the constructor.
import { SparqArgumentError } from './errors';

/** What a factory passes to a constructor of the library: no other value gets one built. */
export const CONSTRUCT: unique symbol = Symbol('sparq: constructed by the library');

/** Throws SparqArgumentError unless `token` is {@link CONSTRUCT}: `what` cannot be made with `new`; `how` to get one. */
export function checkConstructed(token: unknown, what: string, how: string): void {
  if (token !== CONSTRUCT) throw new SparqArgumentError(`${what} cannot be constructed with new: ${how}`);
}
