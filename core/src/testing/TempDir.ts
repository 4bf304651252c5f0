/**
 * Test support: removing a test's temporary directory at teardown, the one way every package's tests do it.
 */
import { rm } from "node:fs/promises"

/**
 * Removes `dir` and everything in it (nothing when it is absent or undefined: a `beforeAll` that failed before
 * making it). A recursive removal lists a directory, deletes what it listed, then the directory itself: a writer
 * that has only just stopped (a store's last file, a child process's exit flush) can add an entry in between, and
 * the removal fails with ENOTEMPTY or EBUSY for a directory that a moment later is free. Node's `rm` retries those
 * transient errors (and EMFILE, ENFILE, EPERM) with a linear backoff, here about 3 s in all; any other error, and
 * one that outlasts the retries, is thrown: a directory that cannot be removed is a finding, not noise.
 */
export const removeDir = async (dir: string | undefined): Promise<void> => {
  if (dir === undefined) return
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
}
