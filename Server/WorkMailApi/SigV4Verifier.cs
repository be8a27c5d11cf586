using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MailServer.Server.Configuration;

namespace MailServer.Server.WorkMailApi;

/// <summary>The request a signature is checked against: method, path, query pairs, headers (any case) and body.</summary>
public sealed record SignedRequest(
    string Method,
    string Path,
    IReadOnlyList<KeyValuePair<string, string>> Query,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    byte[] Body);

/// <summary>Who signed a request: the access key and its organization.</summary>
public sealed record ApiCaller(string AccessKeyId, string OrganizationId, string Region);

/// <summary>
/// AWS Signature Version 4 ("Create a signed AWS API request", AWS General Reference), as a server checks it:
/// the <c>Authorization</c> header's credential scope must name the service <c>workmail</c> (any region), the
/// signature date must be within <see cref="MaxClockSkew"/> of the server's clock, the access key must be one of
/// <c>Organizations[].AdminApi.AccessKeys</c>, and the signature we compute with its secret must match byte for byte
/// (compared in constant time). Presigned URLs (signature in the query string) are not accepted.
/// </summary>
public static class SigV4Verifier
{
    /// <summary>The service name in the credential scope.</summary>
    public const string Service = "workmail";

    /// <summary>How far the request's X-Amz-Date may be from the server's clock (AWS: 5 minutes).</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    private const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>Checks the request's signature and returns its caller.</summary>
    /// <exception cref="WorkMailException">MissingAuthenticationTokenException, IncompleteSignatureException,
    /// UnrecognizedClientException (unknown key) or InvalidSignatureException (wrong signature, expired, wrong scope).</exception>
    public static ApiCaller Verify(SignedRequest request, ServerConfig config, DateTimeOffset now)
    {
        var authorization = Header(request, "authorization");
        if (authorization is null)
            throw new WorkMailException("MissingAuthenticationTokenException", "Missing Authentication Token");
        if (!authorization.StartsWith(Algorithm + " ", StringComparison.Ordinal))
            throw Incomplete($"Authorization header requires the {Algorithm} algorithm");

        string? credential = null, signedHeaders = null, signature = null;
        foreach (var part in authorization[(Algorithm.Length + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0)
                throw Incomplete($"Authorization header requires key=value pairs, found '{part}'");
            var (key, value) = (part[..eq], part[(eq + 1)..]);
            switch (key)
            {
                case "Credential": credential = value; break;
                case "SignedHeaders": signedHeaders = value; break;
                case "Signature": signature = value; break;
            }
        }
        if (credential is null || signedHeaders is null || signature is null)
            throw Incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters");

        // Credential=AKID/yyyyMMdd/region/service/aws4_request
        var scope = credential.Split('/');
        if (scope.Length != 5)
            throw Incomplete($"Credential '{credential}' is not AKID/date/region/service/aws4_request");
        var (accessKeyId, date, region, service, terminator) = (scope[0], scope[1], scope[2], scope[3], scope[4]);
        if (terminator != "aws4_request")
            throw new WorkMailException("InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request'.");
        if (service != Service)
            throw new WorkMailException("InvalidSignatureException", $"Credential should be scoped to correct service: '{Service}'.");

        var amzDate = Header(request, "x-amz-date");
        if (amzDate is null || !DateTimeOffset.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var signedAt))
            throw Incomplete("X-Amz-Date header (yyyyMMddTHHmmssZ) is required");
        if (!amzDate.StartsWith(date, StringComparison.Ordinal))
            throw new WorkMailException("InvalidSignatureException", $"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{amzDate[..8]}'");
        if (signedAt < now - MaxClockSkew)
            throw new WorkMailException("InvalidSignatureException",
                $"Signature expired: {amzDate} is now earlier than {(now - MaxClockSkew).ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)} ({now.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)} - 5 min.)");
        if (signedAt > now + MaxClockSkew)
            throw new WorkMailException("InvalidSignatureException",
                $"Signature not yet current: {amzDate} is still later than {(now + MaxClockSkew).ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)} ({now.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)} + 5 min.)");

        var signed = signedHeaders.Split(';');
        if (!signed.Contains("host"))
            throw Incomplete("SignedHeaders must include 'host'");

        var (organizationId, secret) = FindKey(config, accessKeyId)
            ?? throw new WorkMailException("UnrecognizedClientException", "The security token included in the request is invalid.");

        var expected = Signature(request, signed, amzDate, $"{date}/{region}/{service}/{terminator}", date, region, secret);
        var presented = Encoding.ASCII.GetBytes(signature);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), presented))
            throw new WorkMailException("InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
        return new ApiCaller(accessKeyId, organizationId, region);
    }

    /// <summary>The hex signature of a request with the given signed headers and secret (also used by the tests to sign).</summary>
    public static string Signature(SignedRequest request, IReadOnlyList<string> signedHeaders, string amzDate, string scope,
        string date, string region, string secret)
    {
        var payloadHash = Convert.ToHexStringLower(SHA256.HashData(request.Body));
        var canonical = new StringBuilder()
            .Append(request.Method).Append('\n')
            .Append(CanonicalUri(request.Path)).Append('\n')
            .Append(CanonicalQuery(request.Query)).Append('\n');
        foreach (var name in signedHeaders)
        {
            var values = request.Headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => Collapse(h.Value));
            canonical.Append(name).Append(':').Append(string.Join(',', values)).Append('\n');
        }
        canonical.Append('\n').Append(string.Join(';', signedHeaders)).Append('\n').Append(payloadHash);

        var stringToSign = $"{Algorithm}\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())))}";
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secret), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(Service));
        key = HMACSHA256.HashData(key, "aws4_request"u8.ToArray());
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
    }

    private static (string OrganizationId, string Secret)? FindKey(ServerConfig config, string accessKeyId)
    {
        foreach (var org in config.Organizations)
            foreach (var key in org.AdminApi?.AccessKeys ?? [])
                if (string.Equals(key.AccessKeyId, accessKeyId, StringComparison.Ordinal))
                    return (org.Id, key.SecretAccessKey);
        return null;
    }

    private static WorkMailException Incomplete(string message) => new("IncompleteSignatureException", message);

    private static string? Header(SignedRequest request, string name) =>
        request.Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>Trims and turns runs of spaces into one (the canonical header value).</summary>
    private static string Collapse(string value)
    {
        var sb = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c == ' ')
            {
                if (!space)
                    sb.Append(c);
                space = true;
                continue;
            }
            space = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static string CanonicalUri(string path) =>
        path.Length == 0 ? "/" : string.Join('/', path.Split('/').Select(Encode));

    private static string CanonicalQuery(IReadOnlyList<KeyValuePair<string, string>> query) =>
        string.Join('&', query.Select(q => (Key: Encode(q.Key), Value: Encode(q.Value)))
            .OrderBy(q => q.Key, StringComparer.Ordinal).ThenBy(q => q.Value, StringComparer.Ordinal)
            .Select(q => q.Key + "=" + q.Value));

    /// <summary>RFC 3986 percent-encoding of everything but the unreserved characters, as SigV4 requires.</summary>
    private static string Encode(string value)
    {
        var sb = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9'
                or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
                sb.Append((char)b);
            else
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
