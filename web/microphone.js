// Asking for the microphone, and turning a refusal into something the student can act on.

export const AUDIO_CONSTRAINTS = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

/**
 * Open the microphone. Resolves to `{stream, problem}`: a stream and no problem, or no stream and
 * one of "denied", "missing", "unavailable" (no mediaDevices, e.g. a page not served securely)
 * or "error". It never rejects: a call without a microphone still has text chat.
 */
export async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: null, problem: "unavailable", detail: "mediaDevices is not available" };
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: AUDIO_CONSTRAINTS,
      video: false,
    });
    return { stream, problem: null, detail: "" };
  } catch (error) {
    return { stream: null, problem: classify(error), detail: `${error.name}: ${error.message}` };
  }
}

function classify(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "missing";
    default:
      return "error";
  }
}
