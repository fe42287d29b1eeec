// Errors of the rx layer, with the codes Node gives the same conditions.

export interface RxCodedError extends Error {
  code: 'ERR_INVALID_STATE' | 'ERR_STREAM_PREMATURE_CLOSE';
}

function coded(code: RxCodedError['code'], message: string): RxCodedError {
  return Object.assign(new Error(message), { code });
}

export const alreadyReading = (): RxCodedError =>
  coded('ERR_INVALID_STATE', 'The socket already has a subscribed reader (fromSocket or processMessages); share() the observable instead');

/** What stream.finished() reports for a stream that closed before it was done. */
export const prematureClose = (): RxCodedError => coded('ERR_STREAM_PREMATURE_CLOSE', 'Premature close');
