// Debug tracing for the whole package: NODE_DEBUG=ums prints it on stderr (util.debuglog).
import util from 'node:util';

export const debug = util.debuglog('ums');
