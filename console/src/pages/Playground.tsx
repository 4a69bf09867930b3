import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import { GraphiQL } from 'graphiql';
import { rawRequest } from '../api/client.js';
import { useSession } from '../session.js';

const DEFAULT_QUERY = `# Your token is sent with every request. Docs: the book icon.
{
  me { id roles }
}
`;

/** GraphiQL, bundled (no CDN). The console's token is added to every request; the schema comes from the session's introspection. */
export default function Playground() {
  const { mesh } = useSession();
  return (
    <section className="playground" aria-label="GraphQL playground">
      <GraphiQL
        schema={mesh.schema}
        defaultQuery={DEFAULT_QUERY}
        isHeadersEditorEnabled={false}
        fetcher={async (params) => rawRequest(params.query, (params.variables ?? undefined) as Record<string, unknown> | undefined, undefined, params.operationName ?? undefined) as never}
      />
    </section>
  );
}
