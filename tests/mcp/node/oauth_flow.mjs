// The TypeScript MCP SDK's client (what most hosted assistants run) against a live CallVault:
// discover the authorization server from the 401, register (token_endpoint_auth_method none), get a
// person's consent (their signed-in session cookie answers the consent page), redeem the code with
// PKCE and `resource`, call tools, force a refresh, call again. Prints one JSON line of what it saw.
//   node oauth_flow.mjs <base url> <session cookie header> <query>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [base, cookie, query] = process.argv.slice(2);
const redirectUrl = "http://127.0.0.1:33418/callback";
const seen = { authorizeParams: null, tokens: [], registered: null };
let code = null;

const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return { client_name: "TypeScript SDK client", redirect_uris: [redirectUrl], grant_types: ["authorization_code", "refresh_token"],
             response_types: ["code"], token_endpoint_auth_method: "none" };
  },
  state() { return "ts-state-42"; },
  clientInformation() { return seen.registered ?? undefined; },
  saveClientInformation(info) { seen.registered = info; },
  tokens() { return seen.tokens.at(-1); },
  saveTokens(tokens) { seen.tokens.push(tokens); },
  saveCodeVerifier(verifier) { this.verifier = verifier; },
  codeVerifier() { return this.verifier; },
  async redirectToAuthorization(url) {
    seen.authorizeParams = Object.fromEntries(url.searchParams);
    const page = await fetch(url, { headers: { cookie }, redirect: "manual" });
    if (page.status !== 200) throw new Error(`consent page answered ${page.status}`);
    const html = await page.text();
    // The page keeps its CSRF token in the session cookie it sets: answer with that cookie.
    const renewed = page.headers.getSetCookie().map((line) => line.split(";")[0]);
    const answerCookie = renewed.length ? renewed.join("; ") : cookie;
    const csrf = html.match(/name="csrf_token" value="([^"]+)"/)[1];
    const action = html.match(/<form method="post" action="([^"]+)"/)[1].replaceAll("&amp;", "&");
    const answer = await fetch(new URL(action, base), {
      method: "POST", redirect: "manual",
      headers: { cookie: answerCookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf_token: csrf, decision: "allow" }),
    });
    if (answer.status !== 302) throw new Error(`consent answered ${answer.status}: ${await answer.text()}`);
    const location = new URL(answer.headers.get("location"));
    if (location.searchParams.get("state") !== "ts-state-42") throw new Error("state not returned");
    code = location.searchParams.get("code");
  },
};

async function connected() {
  const client = new Client({ name: "callvault-ts-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider }));
  return client;
}

let client;
try {
  client = await connected();
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", base), { authProvider: provider });
  await transport.finishAuth(code);
  client = await connected();
}
const tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
const found = await client.callTool({ name: "search_meetings", arguments: { query } });
await client.close();

// Expire the access token as the client sees it, so the SDK refreshes with the refresh token.
const current = seen.tokens.at(-1);
seen.tokens.push({ ...current, access_token: "cvo_expired-or-revoked" });
client = await connected().catch(async (error) => {
  throw new Error(`reconnect after refresh failed: ${error}`);
});
const again = await client.callTool({ name: "list_meetings", arguments: {} });
await client.close();

console.log(JSON.stringify({
  tools, authorizeParams: seen.authorizeParams, registered: seen.registered, tokenCount: seen.tokens.length,
  refreshTokens: seen.tokens.map((t) => t.refresh_token), hits: found.structuredContent.hits,
  meetingsAfterRefresh: again.structuredContent.meetings.length, isError: found.isError ?? false,
}));
