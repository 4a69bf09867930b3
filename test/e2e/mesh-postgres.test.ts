import { meshSuite } from './mesh-suite.js';

meshSuite('postgres');
