/** What the pool may call in a worker thread (implemented by `JobHost.ts`). */
export interface JobHostApi {
  readonly run: (job: string, input: Uint8Array) => Promise<Uint8Array>
  readonly threadId: () => number
}

/** Error name the pool maps to WorkerError("JobNotFound"); comlink carries `name` and `message` across. */
export const JobNotFoundName = "JobNotFound"
