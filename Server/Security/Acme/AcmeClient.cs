using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MailServer.Server.Security.Acme;

/// <summary>A problem document (RFC 8555 §6.7, RFC 7807) the CA answered with, or a protocol step that failed.</summary>
public sealed class AcmeException(string message, string? problemType = null) : Exception(message)
{
    /// <summary>The problem's <c>type</c> (say <c>urn:ietf:params:acme:error:rateLimited</c>), when the CA sent one.</summary>
    public string? ProblemType { get; } = problemType;
}

/// <summary>
/// A small ACME client (RFC 8555): one account (an ECDSA P-256 key, requests signed as JWS with ES256, §6.2),
/// orders for a set of DNS names answered by HTTP-01 (§8.3), finalization with a CSR and download of the PEM chain
/// (§7.4.2). Nonces are taken from every response; a <c>badNonce</c> refusal is retried with the fresh one (§6.5).
/// Not thread-safe: one issuance at a time.
/// </summary>
public sealed class AcmeClient : IDisposable
{
    private const string JoseJson = "application/jose+json";
    private static readonly TimeSpan PollLimit = TimeSpan.FromMinutes(5);

    private readonly HttpClient _http;
    private readonly Uri _directoryUrl;
    private readonly ECDsa _accountKey;
    private readonly TimeProvider _time;
    private JsonObject? _directory;
    private string? _nonce;

    /// <summary>A client for the CA at <paramref name="directoryUrl"/>, signing with <paramref name="accountKey"/>.</summary>
    /// <param name="http">Used for every request; the caller owns it.</param>
    /// <param name="directoryUrl">The CA's directory URL (RFC 8555 §7.1.1).</param>
    /// <param name="accountKey">A P-256 key; the account is bound to it.</param>
    /// <param name="accountUrl">The account URL from an earlier <see cref="RegisterAsync"/>, or null.</param>
    /// <param name="time">Clock for polling.</param>
    public AcmeClient(HttpClient http, Uri directoryUrl, ECDsa accountKey, string? accountUrl = null, TimeProvider? time = null)
    {
        _http = http;
        _directoryUrl = directoryUrl;
        _accountKey = accountKey;
        AccountUrl = accountUrl;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The account URL (the JWS <c>kid</c>), known after <see cref="RegisterAsync"/>.</summary>
    public string? AccountUrl { get; private set; }

    /// <summary>
    /// The key authorization's second half: the base64url SHA-256 JWK thumbprint of the account key (RFC 7638),
    /// with members in lexicographic order and no white space.
    /// </summary>
    public string Thumbprint
    {
        get
        {
            var p = _accountKey.ExportParameters(false);
            var canonical = $"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{Base64Url(p.Q.X!)}\",\"y\":\"{Base64Url(p.Q.Y!)}\"}}";
            return Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
        }
    }

    /// <summary>
    /// Creates the account, or finds the one bound to the key (RFC 8555 §7.3: a second newAccount with the same key
    /// answers 200 with its URL), agreeing to the CA's terms of service.
    /// </summary>
    /// <exception cref="AcmeException">The CA refused.</exception>
    /// <exception cref="HttpRequestException">The CA could not be reached.</exception>
    public async Task<string> RegisterAsync(string email, CancellationToken cancellationToken)
    {
        var payload = new JsonObject
        {
            ["termsOfServiceAgreed"] = true,
            ["contact"] = new JsonArray($"mailto:{email}"),
        };
        var response = await PostAsync(await EndpointAsync("newAccount", cancellationToken), payload, useJwk: true, cancellationToken);
        AccountUrl = response.Location ?? throw new AcmeException("newAccount answered without a Location (the account URL).");
        return AccountUrl;
    }

    /// <summary>
    /// Orders a certificate for <paramref name="domains"/> (the first is the subject), proves control of each with
    /// HTTP-01 through <paramref name="challenges"/>, finalizes with a CSR for <paramref name="certificateKey"/> and
    /// returns the issued chain as PEM (leaf first).
    /// </summary>
    /// <exception cref="AcmeException">The CA refused a step, a challenge failed, or the order did not become valid in time.</exception>
    /// <exception cref="HttpRequestException">The CA could not be reached.</exception>
    public async Task<string> OrderCertificateAsync(IReadOnlyList<string> domains, RSA certificateKey, AcmeChallenges challenges, CancellationToken cancellationToken)
    {
        if (AccountUrl is null)
            throw new InvalidOperationException("Register the account first.");
        var identifiers = new JsonArray(domains.Select(d => (JsonNode)new JsonObject { ["type"] = "dns", ["value"] = d }).ToArray());
        var created = await PostAsync(await EndpointAsync("newOrder", cancellationToken), new JsonObject { ["identifiers"] = identifiers }, false, cancellationToken);
        var orderUrl = created.Location ?? throw new AcmeException("newOrder answered without a Location (the order URL).");
        var order = created.Body;

        // §7.5: each authorization needs one challenge answered; one already valid (reused by the CA) needs nothing.
        foreach (var authorizationUrl in order["authorizations"]!.AsArray().Select(a => a!.GetValue<string>()))
        {
            var authorization = (await PostAsGetAsync(authorizationUrl, cancellationToken)).Body;
            if (Status(authorization) == "valid")
                continue;
            var domain = authorization["identifier"]?["value"]?.GetValue<string>() ?? "?";
            var challenge = authorization["challenges"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == "http-01")
                ?? throw new AcmeException($"The CA offers no http-01 challenge for {domain}.");
            var token = challenge["token"]!.GetValue<string>();
            challenges.Add(token, $"{token}.{Thumbprint}");
            try
            {
                // §7.5.1: an empty object tells the CA the response is in place.
                await PostAsync(challenge["url"]!.GetValue<string>(), new JsonObject(), false, cancellationToken);
                authorization = await PollAsync(authorizationUrl, s => s is "valid" or "invalid", cancellationToken);
            }
            finally
            {
                challenges.Remove(token);
            }
            if (Status(authorization) != "valid")
            {
                var error = authorization["challenges"]?.AsArray().Select(c => c?["error"]).FirstOrDefault(e => e is not null);
                throw new AcmeException($"The CA could not validate {domain}: {Describe(error)}",
                    error?["type"]?.GetValue<string>());
            }
        }

        order = await PollAsync(orderUrl, s => s is "ready" or "valid" or "invalid", cancellationToken);
        if (Status(order) == "ready")
        {
            // §7.4: the CSR names every identifier; the subject is the first.
            var request = new CertificateRequest($"CN={domains[0]}", certificateKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            foreach (var d in domains)
                san.AddDnsName(d);
            request.CertificateExtensions.Add(san.Build());
            var csr = request.CreateSigningRequest();
            await PostAsync(order["finalize"]!.GetValue<string>(), new JsonObject { ["csr"] = Base64Url(csr) }, false, cancellationToken);
            order = await PollAsync(orderUrl, s => s is "valid" or "invalid", cancellationToken);
        }
        if (Status(order) != "valid")
            throw new AcmeException($"The order ended {Status(order)}: {Describe(order["error"])}", order["error"]?["type"]?.GetValue<string>());

        var certificateUrl = order["certificate"]?.GetValue<string>() ?? throw new AcmeException("A valid order without a certificate URL.");
        var chain = await PostAsGetAsync(certificateUrl, cancellationToken, accept: "application/pem-certificate-chain");
        return chain.Text;
    }

    /// <summary>The Base64url encoding without padding (RFC 8555 §6.1, RFC 7515 §2).</summary>
    public static string Base64Url(ReadOnlySpan<byte> data) =>
        Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose() => _accountKey.Dispose();

    private sealed record Reply(JsonObject Body, string Text, string? Location, TimeSpan? RetryAfter);

    private async Task<JsonObject> PollAsync(string url, Func<string, bool> done, CancellationToken cancellationToken)
    {
        var until = _time.GetUtcNow() + PollLimit;
        while (true)
        {
            var reply = await PostAsGetAsync(url, cancellationToken);
            if (done(Status(reply.Body)))
                return reply.Body;
            if (_time.GetUtcNow() > until)
                throw new AcmeException($"{url} stayed {Status(reply.Body)} for {PollLimit.TotalMinutes} minutes.");
            // §7.5.1: honour Retry-After, within reason; poll at least every 5 s.
            var wait = reply.RetryAfter is { } r && r > TimeSpan.Zero ? TimeSpan.FromSeconds(Math.Min(r.TotalSeconds, 5)) : TimeSpan.FromMilliseconds(500);
            await Task.Delay(wait, _time, cancellationToken);
        }
    }

    private static string Status(JsonObject o) => o["status"]?.GetValue<string>() ?? "";

    private static string Describe(JsonNode? problem) =>
        problem is null ? "no detail" : $"{problem["type"]?.GetValue<string>()} {problem["detail"]?.GetValue<string>()}".Trim();

    private async Task<string> EndpointAsync(string name, CancellationToken cancellationToken)
    {
        if (_directory is null)
        {
            using var response = await _http.GetAsync(_directoryUrl, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
                throw new AcmeException($"The ACME directory {_directoryUrl} answered HTTP {(int)response.StatusCode}.");
            _directory = JsonNode.Parse(text) as JsonObject ?? throw new AcmeException("The ACME directory is not a JSON object.");
        }
        return _directory[name]?.GetValue<string>() ?? throw new AcmeException($"The ACME directory has no {name}.");
    }

    private async Task<string> NonceAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _nonce, null) is { } nonce)
            return nonce;
        using var request = new HttpRequestMessage(HttpMethod.Head, await EndpointAsync("newNonce", cancellationToken));
        using var response = await _http.SendAsync(request, cancellationToken);
        return response.Headers.TryGetValues("Replay-Nonce", out var values) ? values.First()
            : throw new AcmeException("newNonce answered without a Replay-Nonce.");
    }

    private Task<Reply> PostAsGetAsync(string url, CancellationToken cancellationToken, string accept = "application/json") =>
        SendAsync(url, payload: null, useJwk: false, accept, cancellationToken);

    private Task<Reply> PostAsync(string url, JsonObject payload, bool useJwk, CancellationToken cancellationToken) =>
        SendAsync(url, payload, useJwk, "application/json", cancellationToken);

    private async Task<Reply> SendAsync(string url, JsonObject? payload, bool useJwk, string accept, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var body = Sign(url, payload, useJwk, await NonceAsync(cancellationToken));
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new StringContent(body, Encoding.UTF8),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(JoseJson);
            request.Headers.Accept.ParseAdd(accept);
            using var response = await _http.SendAsync(request, cancellationToken);
            if (response.Headers.TryGetValues("Replay-Nonce", out var nonces))
                _nonce = nonces.First();
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                var json = accept == "application/json" && text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null;
                return new Reply(json ?? [], text, response.Headers.Location?.ToString(),
                    response.Headers.RetryAfter?.Delta ?? (response.Headers.RetryAfter?.Date - _time.GetUtcNow()));
            }
            JsonNode? problem = null;
            try { problem = JsonNode.Parse(text); } catch (JsonException) { }
            var type = problem?["type"]?.GetValue<string>();
            // §6.5: a refused nonce is retried with the one that came with the refusal.
            if (type == "urn:ietf:params:acme:error:badNonce" && attempt < 5)
                continue;
            throw new AcmeException($"{url} answered HTTP {(int)response.StatusCode}: {Describe(problem)}", type);
        }
    }

    private string Sign(string url, JsonObject? payload, bool useJwk, string nonce)
    {
        var header = new JsonObject { ["alg"] = "ES256", ["nonce"] = nonce, ["url"] = url };
        if (useJwk)
        {
            var p = _accountKey.ExportParameters(false);
            header["jwk"] = new JsonObject { ["crv"] = "P-256", ["kty"] = "EC", ["x"] = Base64Url(p.Q.X!), ["y"] = Base64Url(p.Q.Y!) };
        }
        else
        {
            header["kid"] = AccountUrl;
        }
        var protectedPart = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString()));
        // POST-as-GET (§6.3) signs an empty payload.
        var payloadPart = payload is null ? "" : Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString()));
        // RFC 7518 §3.4: ES256 signatures are R || S, 32 bytes each (the IEEE P1363 form .NET produces by default).
        var signature = _accountKey.SignData(Encoding.ASCII.GetBytes($"{protectedPart}.{payloadPart}"), HashAlgorithmName.SHA256);
        return new JsonObject { ["protected"] = protectedPart, ["payload"] = payloadPart, ["signature"] = Base64Url(signature) }.ToJsonString();
    }
}

/// <summary>
/// The HTTP-01 key authorizations waiting to be fetched (RFC 8555 §8.3): the plain HTTP listener answers
/// <c>GET /.well-known/acme-challenge/TOKEN</c> from here while an order is being validated.
/// </summary>
public sealed class AcmeChallenges
{
    /// <summary>Where the CA fetches a token.</summary>
    public const string PathPrefix = "/.well-known/acme-challenge/";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _pending = new(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="keyAuthorization"/> for <paramref name="token"/> until removed.</summary>
    public void Add(string token, string keyAuthorization) => _pending[token] = keyAuthorization;

    /// <summary>Stops serving <paramref name="token"/>.</summary>
    public void Remove(string token) => _pending.TryRemove(token, out _);

    /// <summary>The key authorization for <paramref name="token"/>, or null when none is pending.</summary>
    public string? Find(string token) => _pending.GetValueOrDefault(token);
}
