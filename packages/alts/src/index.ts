export { ALTS_ERROR_STATUS, AltsError, type AltsErrorCode } from './errors.js';
