import { mlSuite } from './ml-suite.js';

mlSuite('pglite');
