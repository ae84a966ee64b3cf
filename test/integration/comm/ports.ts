export { freePort } from '../../../trainer/local/ports.js';
