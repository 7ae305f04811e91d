// Typed documents for the operations in schema/operations (client preset), used by the API tests.
// `npm run codegen` writes them; a test fails when they are not current.

import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['schema/operations/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'test/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string' }, importExtension: '.js' },
    },
  },
};

export default config;
