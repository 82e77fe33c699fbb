// One error shape everywhere: { success: false, error, code, ...details }. The HTTP layer's own
// refusals are ApiErrors; the domain's errors get their status here, in one table.
import { excerpt, SessionError, type SessionErrorCode } from "../sessions/errors";

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

const statusOf: Record<SessionErrorCode, number> = {
  SESSION_NOT_FOUND: 404,
  SESSION_NAME_TAKEN: 409,
  INVALID_SESSION_STATE: 409,
  SESSION_LIMIT_REACHED: 429,
  RATE_LIMITED: 429,
  INVALID_PHONE_NUMBER: 400,
  SANDBOX_ERROR: 502,
  SANDBOX_UNAVAILABLE: 503,
  RUNTIME_UNAVAILABLE: 503,
  SANDBOX_IMAGE_MISSING: 503,
  RUNTIME_FAILED: 503,
  SANDBOX_TIMEOUT: 504,
  VALIDATION_ERROR: 400,
  DELIVERY_NOT_FOUND: 404,
  INVALID_DELIVERY_STATE: 409,
  MESSAGE_NOT_FOUND: 404,
  NOT_ON_WHATSAPP: 422,
  CONFLICT: 409,
  MEDIA_NOT_FOUND: 404,
  MEDIA_TOO_LARGE: 413,
  MEDIA_TYPE_MISMATCH: 422,
  MEDIA_FETCH_FAILED: 422,
  MEDIA_CONVERSION_UNAVAILABLE: 422,
  GROUP_NOT_FOUND: 404,
  NOT_GROUP_ADMIN: 403,
  INVITE_NOT_FOUND: 404,
  NOT_ALLOWED_TO_SEND: 403,
  MESSAGE_NOT_EDITABLE: 409,
  MESSAGE_NOT_REVOCABLE: 409,
  NODE_NOT_FOUND: 404,
  NODE_UNAVAILABLE: 409,
};

/** The ApiError for an error the HTTP layer knows, or null for anything else. */
export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof SessionError) return new ApiError(statusOf[err.code], err.code, err.message, err.details);
  return null;
}

export function errorBody(err: ApiError): ErrorBody {
  return { success: false, error: err.message, code: err.code, ...err.extra };
}

export const errors = {
  missingKey: () => new ApiError(401, "MISSING_API_KEY", "The X-API-Key header is required"),
  invalidKey: () => new ApiError(401, "INVALID_API_KEY", "The API key is not valid"),
  forbidden: (what = "this resource") => new ApiError(403, "FORBIDDEN", `This API key may not access ${what}`),
  notFound: (id: string) => new ApiError(404, "SESSION_NOT_FOUND", `No session with id "${excerpt(id)}"`),
  validation: (field: string, message: string) =>
    new ApiError(400, "VALIDATION_ERROR", `Invalid field "${excerpt(field)}": ${message}`, { field: excerpt(field) }),
  rateLimited: (message: string) => new ApiError(429, "RATE_LIMITED", message),
};
