// One error shape everywhere: { success: false, error, code }. Services throw ApiError; the
// HTTP layer turns it (and Elysia's own errors) into that body with the right status.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  success: false;
  error: string;
  code: string;
  [extra: string]: unknown;
}

export function errorBody(err: ApiError): ErrorBody {
  return { success: false, error: err.message, code: err.code, ...err.extra };
}

export const errors = {
  missingKey: () => new ApiError(401, "MISSING_API_KEY", "The X-API-Key header is required"),
  invalidKey: () => new ApiError(401, "INVALID_API_KEY", "The API key is not valid"),
  forbidden: (what = "this resource") => new ApiError(403, "FORBIDDEN", `This API key may not access ${what}`),
  notFound: (id: string) => new ApiError(404, "SESSION_NOT_FOUND", `No session with id "${id}"`),
  wrongState: (action: string, state: string, allowed: readonly string[]) =>
    new ApiError(409, "INVALID_SESSION_STATE", `Cannot ${action} while the session is "${state}"`, {
      state,
      allowedStates: allowed,
    }),
  validation: (field: string, message: string) =>
    new ApiError(400, "VALIDATION_ERROR", `Invalid field "${field}": ${message}`, { field }),
};
