// A request's file on disk (a form's `file` part, or the base64 `media.data` of a JSON body
// decoded as it came), from its parse to the end of its response.

export interface RequestFile {
  path: string;
  size: number;
  /** What the form part's headers said of it (a JSON body's file has none). */
  contentType: string | null;
  fileName: string | null;
  /** Lowercase hex of the bytes, hashed as they were written. */
  sha256: string;
  /** The field a refusal of the file names. */
  field: "file" | "media.data";
  remove(): Promise<void>;
}

const files = new WeakMap<Request, RequestFile>();

export function keepRequestFile(request: Request, file: RequestFile): void {
  files.set(request, file);
}

export function requestFileOf(request: Request): RequestFile | undefined {
  return files.get(request);
}

/** Removes the request's file (after its answer went, whatever the answer was). */
export async function removeRequestFile(request: Request): Promise<void> {
  const file = files.get(request);
  files.delete(request);
  await file?.remove();
}
