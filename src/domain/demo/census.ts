import type { DomainDeclarationInput } from '../declaration.js';

/** UCI Adult: one row per person, sensitive. Bounds and categories from the UCI documentation. */
export const census: DomainDeclarationInput = {
  name: 'census',
  title: 'Census income',
  description:
    'Income and demographics of 30,162 adults from the 1994 US Census (UCI Adult). Sensitive: answers are differentially private only.',
  owner: { team: 'Population statistics', contact: 'census-data@example.org' },
  sensitivity: 'sensitive',
  policy: {
    defaultBudget: { epsilon: 10, delta: 1e-6 },
    globalCap: { epsilon: 50, delta: 1e-5 },
    maxEpsilonPerQuery: 2,
    defaultEpsilon: 0.5,
    defaultDelta: 1e-9,
    rateLimitPerMinute: 600,
  },
  datasets: [
    {
      name: 'adults',
      title: 'Adults',
      table: 'adults',
      description: 'One row per adult person (UCI Adult, rows with missing values removed).',
      privacyUnit: 'row',
      contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 },
      source: { kind: 'csv', file: 'data/adult/adult.csv.gz' },
      columns: [
        { name: 'age', source: 'age', type: 'integer', unit: 'years', bounds: [17, 90], description: 'Age of the person.' },
        {
          name: 'workclass', source: 'workclass', type: 'categorical', description: 'Employer type.',
          categories: ['Federal-gov', 'Local-gov', 'Private', 'Self-emp-inc', 'Self-emp-not-inc', 'State-gov', 'Without-pay', 'Never-worked'],
        },
        {
          name: 'education', source: 'education', type: 'categorical', description: 'Highest education level.',
          categories: ['Preschool', '1st-4th', '5th-6th', '7th-8th', '9th', '10th', '11th', '12th', 'HS-grad', 'Some-college', 'Assoc-voc', 'Assoc-acdm', 'Bachelors', 'Masters', 'Prof-school', 'Doctorate'],
        },
        { name: 'educationNum', source: 'education-num', type: 'integer', unit: 'level', bounds: [1, 16], description: 'Education level as a number (1 = Preschool, 16 = Doctorate).' },
        {
          name: 'maritalStatus', source: 'marital-status', type: 'categorical', description: 'Marital status.',
          categories: ['Divorced', 'Married-AF-spouse', 'Married-civ-spouse', 'Married-spouse-absent', 'Never-married', 'Separated', 'Widowed'],
        },
        {
          name: 'occupation', source: 'occupation', type: 'categorical', description: 'Occupation.',
          categories: ['Adm-clerical', 'Armed-Forces', 'Craft-repair', 'Exec-managerial', 'Farming-fishing', 'Handlers-cleaners', 'Machine-op-inspct', 'Other-service', 'Priv-house-serv', 'Prof-specialty', 'Protective-serv', 'Sales', 'Tech-support', 'Transport-moving'],
        },
        {
          name: 'relationship', source: 'relationship', type: 'categorical', description: 'Relationship to the household head.',
          categories: ['Husband', 'Not-in-family', 'Other-relative', 'Own-child', 'Unmarried', 'Wife'],
        },
        { name: 'race', source: 'race', type: 'categorical', description: 'Race as recorded by the census.', categories: ['Amer-Indian-Eskimo', 'Asian-Pac-Islander', 'Black', 'Other', 'White'] },
        { name: 'sex', source: 'sex', type: 'categorical', description: 'Sex as recorded by the census.', categories: ['Female', 'Male'] },
        // Synthetic binning from public facts: most people report no capital gain or loss (0 is a
        // point mass), amounts are skewed (log-scale bins), and the census top-codes gains at 99,999.
        {
          name: 'capitalGain', source: 'capital-gain', type: 'integer', unit: 'USD', bounds: [0, 99999], description: 'Capital gains in the year (census top-code 99,999).',
          synthetic: { specialValues: [0, 99999], scale: 'log', bins: 24 },
        },
        {
          name: 'capitalLoss', source: 'capital-loss', type: 'integer', unit: 'USD', bounds: [0, 5000], description: 'Capital losses in the year.',
          synthetic: { specialValues: [0], scale: 'log', bins: 24 },
        },
        { name: 'hoursPerWeek', source: 'hours-per-week', type: 'integer', unit: 'hours', bounds: [1, 99], description: 'Usual hours worked per week (top-coded at 99).' },
        { name: 'nativeCountry', source: 'native-country', type: 'categorical', description: 'Country of birth. No public list: histogram keys go through DP key selection.' },
        { name: 'income', source: 'income-per-year', type: 'categorical', description: 'Yearly income class.', categories: ['<=50K', '>50K'] },
      ],
    },
  ],
};
