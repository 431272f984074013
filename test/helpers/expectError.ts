export type ErrorClass = new (...args: never[]) => Error;

/** fn() throws synchronously an instance of cls with this `code` and `argument` (and a message matching `message`). */
export function expectError(fn: () => unknown, cls: ErrorClass, code: string, argument: string | undefined, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(cls);
  const e = caught as Error & { code: string; argument?: string };
  expect(e.code).toBe(code);
  expect(e.argument).toBe(argument);
  if (message) expect(e.message).toMatch(message);
}
