using System.Globalization;
using System.Net;
using MailServer.Rules.Dns;
using MimeKit;
using MimeKit.Cryptography;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>
/// Computes every verdict for one inbound message: SPF on the envelope, each DKIM signature (MimeKit's
/// <see cref="DkimVerifier"/>), the ARC chain (reported only) and DMARC over those. Thread-safe; one per server.
/// </summary>
public sealed class SenderAuthenticator
{
    /// <summary>Signatures verified per message; more are reported as permerror without a DNS query (a cost cap).</summary>
    public const int MaxSignatures = 8;

    private readonly SpfEvaluator _spf;
    private readonly DmarcEvaluator _dmarc;
    private readonly DnsDkimPublicKeyLocator _keys;
    private readonly TimeProvider _time;

    /// <summary>Creates the authenticator.</summary>
    /// <param name="dns">The server's resolver.</param>
    /// <param name="receiverName">Our host name (SPF's <c>%{r}</c>).</param>
    /// <param name="suffixes">The public suffix list; the embedded one when null.</param>
    /// <param name="time">Clock for DKIM x= expiry and SPF macros; system time when null.</param>
    public SenderAuthenticator(IDnsResolver dns, string receiverName, PublicSuffixList? suffixes = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        _time = time ?? TimeProvider.System;
        _spf = new SpfEvaluator(dns, receiverName, _time);
        _dmarc = new DmarcEvaluator(dns, suffixes ?? PublicSuffixList.Default);
        _keys = new DnsDkimPublicKeyLocator(dns);
    }

    /// <summary>Authenticates a message received from <paramref name="client"/>.</summary>
    /// <param name="client">The SMTP client's address.</param>
    /// <param name="helo">The HELO/EHLO name.</param>
    /// <param name="reversePath">The MAIL FROM address, "" for the null reverse-path.</param>
    /// <param name="message">The message as received (parsed from the exact bytes, before any header is added).</param>
    /// <param name="cancellationToken">Cancels DNS queries.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task<SenderAuthenticationVerdict> AuthenticateAsync(IPAddress client, string helo, string reversePath, MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(message);
        var spf = await _spf.CheckAsync(client, reversePath, helo, cancellationToken).ConfigureAwait(false);
        var dkim = await VerifyDkimAsync(message, cancellationToken).ConfigureAwait(false);
        var arc = await VerifyArcAsync(message, cancellationToken).ConfigureAwait(false);
        var dmarc = await _dmarc.EvaluateAsync(message.Headers, spf, dkim, cancellationToken).ConfigureAwait(false);
        return new SenderAuthenticationVerdict(spf, dkim, arc, dmarc);
    }

    /// <summary>RFC 6376 §6: every DKIM-Signature field, each with its own result.</summary>
    public async Task<IReadOnlyList<DkimSignatureVerdict>> VerifyDkimAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var verifier = new DkimVerifier(_keys);
        // RFC 8301 §3.1: verifiers must not consider rsa-sha1 signatures valid.
        verifier.Disable(DkimSignatureAlgorithm.RsaSha1);
        var results = new List<DkimSignatureVerdict>();
        foreach (var header in message.Headers.Where(h => h.Id == HeaderId.DkimSignature))
        {
            var tags = ParseTags(header.Value);
            var domain = tags.GetValueOrDefault("d", "").ToLowerInvariant();
            var selector = tags.GetValueOrDefault("s", "");
            var algorithm = tags.GetValueOrDefault("a", "").ToLowerInvariant();
            var prefix = new string(tags.GetValueOrDefault("b", "").Where(c => !char.IsWhiteSpace(c)).Take(8).ToArray());
            DkimSignatureVerdict Verdict(DkimResult result, string? problem = null) => new(result, domain, selector, algorithm, prefix, problem);

            if (results.Count >= MaxSignatures)
            {
                results.Add(Verdict(DkimResult.PermError, "too many signatures"));
                continue;
            }
            if (domain.Length == 0 || selector.Length == 0 || !tags.ContainsKey("b") || !tags.ContainsKey("bh"))
            {
                results.Add(Verdict(DkimResult.PermError, "signature lacks a required tag"));
                continue;
            }
            // RFC 6376 §3.5 x=: a signature past its expiry is not acceptable.
            if (tags.TryGetValue("x", out var x))
            {
                if (!long.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out var expires))
                {
                    results.Add(Verdict(DkimResult.PermError, "malformed x= tag"));
                    continue;
                }
                if (expires < _time.GetUtcNow().ToUnixTimeSeconds())
                {
                    results.Add(Verdict(DkimResult.PermError, "signature expired"));
                    continue;
                }
                if (tags.TryGetValue("t", out var t) && long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var signedAt) && signedAt > expires)
                {
                    results.Add(Verdict(DkimResult.PermError, "x= is before t="));
                    continue;
                }
            }
            try
            {
                var ok = await verifier.VerifyAsync(message, header, cancellationToken).ConfigureAwait(false);
                results.Add(ok ? Verdict(DkimResult.Pass) : Verdict(DkimResult.Fail, "signature did not verify"));
            }
            catch (DkimKeyUnavailableException e)
            {
                results.Add(Verdict(e.Temporary ? DkimResult.TempError : DkimResult.PermError, e.Message));
            }
            catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or ParseException or Org.BouncyCastle.Crypto.CryptoException)
            {
                results.Add(Verdict(DkimResult.PermError, e.Message));
            }
        }
        return results;
    }

    /// <summary>RFC 8617 §5.2: the chain's validation status; any problem reading it is a failed chain.</summary>
    public async Task<ArcResult> VerifyArcAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!message.Headers.Contains(HeaderId.ArcSeal) && !message.Headers.Contains(HeaderId.ArcMessageSignature))
            return ArcResult.None;
        try
        {
            var verifier = new ArcVerifier(_keys);
            verifier.Disable(DkimSignatureAlgorithm.RsaSha1); // RFC 8301 §3.1
            var result = await verifier.VerifyAsync(message, cancellationToken).ConfigureAwait(false);
            return result.Chain switch
            {
                ArcSignatureValidationResult.Pass => ArcResult.Pass,
                ArcSignatureValidationResult.None => ArcResult.None,
                _ => ArcResult.Fail,
            };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return ArcResult.Fail;
        }
    }

    /// <summary>RFC 6376 §3.2 tag-list: "tag=value" pairs separated by ";", whitespace around both ignored.</summary>
    internal static Dictionary<string, string> ParseTags(string value)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in value.Split(';'))
        {
            var equals = part.IndexOf('=');
            if (equals <= 0)
                continue;
            var name = part[..equals].Trim();
            var tagValue = part[(equals + 1)..].Trim();
            tags.TryAdd(name, string.Concat(tagValue.Where(c => c != '\r' && c != '\n')).Trim());
        }
        return tags;
    }
}
