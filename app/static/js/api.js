// Calls to the photo2cad HTTP API; every failure becomes an ApiError carrying the server's own message.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The message of an error body: FastAPI sends {"detail": "..."} or, from validation, a list. */
export function detailOf(body) {
  const detail = body?.detail;
  if (typeof detail === 'string') return detail;
  if (!Array.isArray(detail)) return null;
  return detail.map((item) => {
    const where = (item.loc ?? []).filter((part) => part !== 'body').join('.');
    return where ? `${where}: ${item.msg}` : item.msg;
  }).join('; ');
}

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new ApiError(`cannot reach the server (${err.message})`, 0);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(detailOf(body) ?? `${response.status} ${response.statusText}`, response.status);
  }
  if (body === null) throw new ApiError('the server sent an answer that is not JSON', response.status);
  return body;
}

export function getHealth() {
  return request('api/health');
}

/** POST the photo; `polar` and `azimuth` (degrees, or null) are sent as given: the API wants both or neither. */
export function searchPhoto(file, { topK, polar, azimuth, refine = false }) {
  const form = new FormData();
  form.append('image', file, file.name || 'pasted-image.png');
  if (topK) form.append('top_k', String(topK));
  if (polar !== null) form.append('polar', String(polar));
  if (azimuth !== null) form.append('azimuth', String(azimuth));
  if (refine) form.append('refine', 'true');
  return request('api/search', { method: 'POST', body: form });
}
