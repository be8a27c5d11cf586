using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Rules.Dns;
using MailServer.Rules.TransportSecurity;
using MailServer.Server.Configuration;
using MtaStsMode = MailServer.Rules.TransportSecurity.MtaStsMode;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;

namespace MailServer.Server.Delivery;

/// <summary>The outcome of one remote delivery attempt for one recipient. A closed set.</summary>
public abstract record RemoteOutcome
{
    private RemoteOutcome() { }

    /// <summary>The remote server accepted the recipient and the message.</summary>
    public sealed record Delivered(string RemoteMta, string Reply) : RemoteOutcome;

    /// <summary>Try again later (4xx, no answer, DNS temporarily failing). <see cref="Status"/> is RFC 3463.</summary>
    public sealed record TemporaryFailure(string Reason, string Status, string? RemoteMta) : RemoteOutcome;

    /// <summary>Retrying will not help (5xx, no such domain, null MX).</summary>
    public sealed record PermanentFailure(string Reason, string Status, string? RemoteMta) : RemoteOutcome;
}

/// <summary>Where a group of recipients goes: the MX hosts of a domain, or a configured SMTP gateway.</summary>
public abstract record Destination
{
    private Destination() { }

    /// <summary>Direct delivery to the domain's MX hosts (or the address literal itself).</summary>
    public sealed record Domain(string Name) : Destination;

    /// <summary>Through a named gateway (§9.7).</summary>
    public sealed record Gateway(SmtpGatewayConfig Config) : Destination;

    /// <summary>The key the per-destination concurrency limit counts by.</summary>
    public string Key => this switch
    {
        Domain d => "domain:" + d.Name.ToLowerInvariant(),
        Gateway g => "gateway:" + g.Config.Name,
        _ => throw new InvalidOperationException(),
    };
}

/// <summary>A recipient handed to <see cref="RemoteDelivery"/>, with its RFC 3461 parameters to pass on.</summary>
public sealed record RemoteRecipient(string Address, string? DsnNotify, string? OriginalRecipient);

/// <summary>What the sender of one message asked of its transport (RFC 8689).</summary>
public enum TransportDemand
{
    /// <summary>The recipient domains' policies decide (MTA-STS, DANE, else opportunistic TLS).</summary>
    Default,

    /// <summary>
    /// MAIL FROM carried REQUIRETLS (RFC 8689 §4.2.1): MX names authenticated (DNSSEC or an MTA-STS policy listing them),
    /// TLS with a certificate authenticated by DANE or PKIX, a next hop that offers REQUIRETLS; else the message bounces.
    /// </summary>
    RequireTls,

    /// <summary><c>TLS-Required: No</c> (RFC 8689 §3): MTA-STS and DANE are not enforced; STARTTLS is still used when offered.</summary>
    PoliciesWaived,
}

/// <summary>
/// Sends one message to one destination, carrying all its recipients (RFC 5321 §5.1 host order; MailKit's
/// <see cref="SmtpClient"/>, which re-serialises the message safely (bare LF normalised, dot-stuffed: no smuggling downstream), and pipelines MAIL and
/// RCPT where the server offers PIPELINING, RFC 2920). A connection that ended a transaction cleanly is kept for
/// the next message to the same destination, host and port (RFC 5321 §3.3 allows any number of transactions per
/// session): for at most <see cref="IdleTimeout"/> between messages and <see cref="ReuseTimeLimit"/> in all, as
/// Postfix's connection cache does. MX hosts get opportunistic STARTTLS (RFC 3207, RFC 7435: a certificate is not
/// checked, a failed handshake is retried in plaintext); gateways get TLS 1.2+ with a system-trusted certificate
/// unless their Security is None. A recipient domain with an MTA-STS policy (RFC 8461, <see cref="MtaStsPolicies"/>)
/// in <c>enforce</c> mode gets only its listed MX hosts, each over STARTTLS with a certificate valid for the MX name
/// from a CA the system trusts, never plaintext; otherwise a temporary failure (4.7.5). In <c>testing</c> mode what
/// would have failed is logged and delivery goes on as usual.
/// </summary>
public sealed class RemoteDelivery(IDnsResolver dns, Func<DeliveryConfig> config, string heloName,
    MtaStsPolicies? mtaSts = null, ILogger? logger = null, ITlsSessionObserver? sessions = null) : IDisposable
{
    /// <summary>How the TLS of a connection to an MX host is judged.</summary>
    private enum TlsCheck
    {
        /// <summary>RFC 7435: encrypt when offered, do not authenticate, fall back to plaintext.</summary>
        Opportunistic,

        /// <summary>Opportunistic, and log what MTA-STS enforce would have refused (policy mode testing).</summary>
        Report,

        /// <summary>MTA-STS enforce: STARTTLS required, certificate valid for the MX host name (RFC 8461 §4.2).</summary>
        MtaSts,

        /// <summary>DANE (RFC 7672): STARTTLS required, the certificates must match the host's authenticated TLSA records.</summary>
        Dane,
    }

    /// <summary>Why the last host could not be used (for the outcome's reason).</summary>
    private sealed class HostFailure
    {
        public string? Reason { get; set; }

        /// <summary>The host answered but did not meet a REQUIRETLS message's demands (TLS, certificate, the extension).</summary>
        public bool Unmet { get; set; }

        /// <summary>RFC 8460 §4.3 result type of a TLS failure (refused, or only reported in testing mode), for TLS-RPT.</summary>
        public string? ResultType { get; set; }

        /// <summary>In MTA-STS testing mode: what enforce would have refused (the session went on).</summary>
        public string? TestingReason { get; set; }
    }

    /// <summary>RFC 8689 §4.2.1 for destinations that can never satisfy REQUIRETLS; null when the hosts must be tried.</summary>
    private static RemoteOutcome? RequireTlsRefusal(Destination destination, string? domain)
    {
        if (destination is Destination.Gateway { Config.Security: SmtpGatewaySecurity.None } gateway)
            return new RemoteOutcome.PermanentFailure($"REQUIRETLS: SMTP gateway {gateway.Config.Name} is used without TLS (Security None)", "5.7.30", null);
        if (domain is not null && domain.StartsWith('['))
            return new RemoteOutcome.PermanentFailure($"REQUIRETLS: an address literal ({domain}) has no authenticated name", "5.7.30", null);
        return null;
    }

    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly ConcurrentDictionary<string, ConcurrentStack<CachedConnection>> _idle = new(StringComparer.Ordinal);
    private long _lastSweep;

    /// <summary>How long one SMTP command may take (RFC 5321 §4.5.3.2 suggests minutes; we keep it shorter).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a connection may wait unused for the next message before it is closed (Postfix: 2 s).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one connection is reused at most, counted from its start (Postfix: 300 s).</summary>
    public TimeSpan ReuseTimeLimit { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Connections waiting for their next message (for tests and metrics).</summary>
    public int IdleConnections => _idle.Values.Sum(s => s.Count);

    /// <summary>Delivers <paramref name="message"/> to every recipient at <paramref name="destination"/>. Never throws for delivery failures.</summary>
    /// <param name="destination">The domain or gateway.</param>
    /// <param name="message">The message as queued.</param>
    /// <param name="sender">The envelope sender; "" is the null reverse-path.</param>
    /// <param name="recipients">Recipients at this destination.</param>
    /// <param name="envelopeId">RFC 3461 ENVID to pass on.</param>
    /// <param name="cancellationToken">Stops the attempt (the recipients stay pending).</param>
    /// <returns>One outcome per recipient, in order.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public Task<IReadOnlyList<RemoteOutcome>> DeliverAsync(Destination destination, MimeMessage message, string sender,
        IReadOnlyList<RemoteRecipient> recipients, string? envelopeId, CancellationToken cancellationToken) =>
        DeliverAsync(destination, message, sender, recipients, envelopeId, TransportDemand.Default, cancellationToken);

    /// <summary>Delivers <paramref name="message"/> as <paramref name="demand"/> asks. Never throws for delivery failures.</summary>
    /// <param name="destination">The domain or gateway.</param>
    /// <param name="message">The message as queued.</param>
    /// <param name="sender">The envelope sender; "" is the null reverse-path.</param>
    /// <param name="recipients">Recipients at this destination.</param>
    /// <param name="envelopeId">RFC 3461 ENVID to pass on.</param>
    /// <param name="demand">REQUIRETLS, <c>TLS-Required: No</c>, or neither (RFC 8689).</param>
    /// <param name="cancellationToken">Stops the attempt (the recipients stay pending).</param>
    /// <returns>One outcome per recipient, in order.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task<IReadOnlyList<RemoteOutcome>> DeliverAsync(Destination destination, MimeMessage message, string sender,
        IReadOnlyList<RemoteRecipient> recipients, string? envelopeId, TransportDemand demand, CancellationToken cancellationToken)
    {
        List<(string Host, IPAddress Address, int Port)> hosts;
        bool mxAuthenticated;
        switch (await ResolveAsync(destination, cancellationToken).ConfigureAwait(false))
        {
            case ResolveResult.Failed failed:
                return recipients.Select(_ => failed.Outcome).ToList();
            case ResolveResult.Hosts found:
                hosts = found.List;
                mxAuthenticated = found.Authenticated;
                break;
            default:
                throw new InvalidOperationException();
        }
        var requireTls = demand == TransportDemand.RequireTls;
        var waived = demand == TransportDemand.PoliciesWaived;

        // RFC 8461 §5: the recipient domain's MTA-STS policy (MX delivery only; a gateway is the admin's choice).
        var domain = (destination as Destination.Domain)?.Name;
        if (requireTls && RequireTlsRefusal(destination, domain) is { } refusal)
            return recipients.Select(_ => (RemoteOutcome)refusal).ToList();
        MtaStsPolicy? policy = null;
        if (mtaSts is not null && domain is not null && !domain.StartsWith('[') && !waived)
        {
            var lookup = await mtaSts.LookupAsync(domain, cancellationToken).ConfigureAwait(false);
            policy = lookup.Policy;
            // RFC 8460 §4.3.2.1: the domain announces a policy (its _mta-sts record) that could not be had and none is
            // cached: the session goes on without one (RFC 8461 §5.1) and is counted as a failure of the policy fetch.
            if (policy is null && lookup.FetchFailure is { } fetchFailure)
                sessions?.Failed(TlsPolicyReference.StsNotFetched(domain), fetchFailure.ResultType, null, null, fetchFailure.Reason);
        }
        if (waived && domain is not null && !domain.StartsWith('['))
            MtaStsLog.PoliciesWaived(_logger, domain);
        var check = policy?.Mode switch
        {
            MtaStsMode.Enforce => TlsCheck.MtaSts,
            // RFC 8689 §4.2.1: a REQUIRETLS message takes a policy in testing mode as if it were enforced.
            MtaStsMode.Testing => requireTls ? TlsCheck.MtaSts : TlsCheck.Report,
            _ => TlsCheck.Opportunistic,
        };
        if (requireTls && domain is not null && check != TlsCheck.MtaSts)
        {
            // RFC 8689 §4.2.1: without an MTA-STS policy the MX names must come from a DNSSEC-authenticated answer, and
            // then the certificate is checked against the MX name (PKIX) unless DANE applies.
            if (!mxAuthenticated)
            {
                var refused = new RemoteOutcome.PermanentFailure(
                    $"REQUIRETLS: the MX hosts of {domain} are neither DNSSEC-authenticated nor listed by an MTA-STS policy", "5.7.30", null);
                return recipients.Select(_ => (RemoteOutcome)refused).ToList();
            }
            check = TlsCheck.MtaSts;
        }
        // TLS-RPT (RFC 8460): sessions judged by the domain's MTA-STS policy are counted under it.
        var stsReference = policy is { Mode: MtaStsMode.Enforce or MtaStsMode.Testing } && domain is not null ? TlsPolicyReference.Sts(domain, policy) : null;
        if (policy is not null && check != TlsCheck.Opportunistic)
        {
            var unlisted = hosts.Select(h => h.Host).Where(h => !policy.Lists(h)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            if (check == TlsCheck.MtaSts)
            {
                // §4.1: an MX host the policy does not list is not a candidate.
                hosts = hosts.Where(h => policy.Lists(h.Host)).ToList();
                foreach (var host in unlisted)
                {
                    MtaStsLog.HostRefused(_logger, "MTA-STS", domain!, host, "not listed in the policy's mx");
                    if (stsReference is not null)
                        sessions?.Failed(stsReference, "validation-failure", host, null, "MX host not listed in the policy");
                }
                if (hosts.Count == 0)
                {
                    RemoteOutcome refused = requireTls
                        ? new RemoteOutcome.PermanentFailure(
                            $"REQUIRETLS: the MTA-STS policy of {domain} lists none of its MX hosts ({string.Join(", ", unlisted)})", "5.7.30", null)
                        : new RemoteOutcome.TemporaryFailure(
                            $"MTA-STS policy of {domain} (enforce) lists none of its MX hosts ({string.Join(", ", unlisted)})", "4.7.5", null);
                    return recipients.Select(_ => refused).ToList();
                }
            }
            else
            {
                foreach (var host in unlisted)
                {
                    MtaStsLog.TestingFailure(_logger, domain!, host, "not listed in the policy's mx");
                    if (stsReference is not null)
                        sessions?.Failed(stsReference, "validation-failure", host, null, "MX host not listed in the policy");
                }
            }
        }

        RemoteOutcome last = new RemoteOutcome.TemporaryFailure("no host could be reached", "4.4.1", null);
        foreach (var (host, address, port) in hosts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var failure = new HostFailure();
            // RFC 7672 §2.2: authenticated, usable TLSA records for the MX host make TLS mandatory and replace PKIX;
            // DANE wins over MTA-STS (RFC 8461 §2). Records from an answer without AD are ignored (§2.1).
            // RFC 7672 §2.2.1: only under a DNSSEC-authenticated MX answer is the MX name itself trustworthy; TLSA records
            // found under an insecure MX name could be an attacker's, so they count for nothing.
            IReadOnlyList<TlsaRecord> tlsa = [];
            if (domain is not null && !domain.StartsWith('[') && !waived)
            {
                var answer = await dns.LookupTlsaAsync($"_{port}._tcp.{host}", cancellationToken).ConfigureAwait(false);
                if (answer.Authenticated && mxAuthenticated)
                    tlsa = Dane.Usable(answer.Records);
                else if (answer.Authenticated && Dane.Usable(answer.Records).Count > 0)
                    MtaStsLog.InsecureMx(_logger, domain);
            }
            var hostCheck = tlsa.Count > 0 ? TlsCheck.Dane : check;
            var reference = hostCheck == TlsCheck.Dane ? TlsPolicyReference.Tlsa(domain!, host, tlsa)
                : hostCheck is TlsCheck.MtaSts or TlsCheck.Report ? stsReference : null;
            var attempt = await TryHostAsync(destination, host, address, port, message, sender, recipients, envelopeId,
                hostCheck, failure, cancellationToken, tlsa, requireTls, reference).ConfigureAwait(false);
            if (attempt is not null)
                return attempt;
            if (reference is not null && failure.ResultType is { } resultType)
                sessions?.Failed(reference, resultType, host, address, failure.Reason ?? resultType);
            if (requireTls && failure.Unmet)
            {
                // RFC 8689 §4.2.1: reached, but not with what the sender required; the next host is tried, and with none left
                // the message is returned (§5: 5.7.30, REQUIRETLS support required).
                MtaStsLog.HostRefused(_logger, "REQUIRETLS", domain ?? destination.Key, host, failure.Reason ?? "no TLS");
                last = new RemoteOutcome.PermanentFailure($"REQUIRETLS: {host} [{address}]:{port}: {failure.Reason ?? "no TLS"}", "5.7.30", host);
            }
            else if (hostCheck == TlsCheck.Dane)
            {
                MtaStsLog.HostRefused(_logger, "DANE", domain!, host, failure.Reason ?? "no TLS");
                last = new RemoteOutcome.TemporaryFailure($"DANE: {host} [{address}]:{port}: {failure.Reason ?? "no TLS"}", "4.7.5", host);
            }
            else if (check == TlsCheck.MtaSts)
            {
                MtaStsLog.HostRefused(_logger, "MTA-STS", domain!, host, failure.Reason ?? "no TLS");
                last = new RemoteOutcome.TemporaryFailure(
                    $"MTA-STS policy of {domain} (enforce): {host} [{address}]:{port}: {failure.Reason ?? "no TLS"}", "4.7.5", host);
            }
            else
            {
                last = new RemoteOutcome.TemporaryFailure($"could not deliver to {host} [{address}]:{port}", "4.4.1", host);
            }
        }
        return recipients.Select(_ => last).ToList();
    }

    /// <summary>
    /// Closes the connections that waited longer than <see cref="IdleTimeout"/> (QUIT in the background). Looks at
    /// most once a second: the sweep takes every waiting connection out for a moment, and a delivery that finds
    /// none meanwhile would open a new one.
    /// </summary>
    public void CloseIdle()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastSweep);
        if (now - last < 1000 || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
            return;
        CloseWhere(c => c.Expired(now, IdleTimeout, ReuseTimeLimit));
    }

    /// <summary>Closes every waiting connection (on stop).</summary>
    public void Dispose() => CloseWhere(_ => true);

    private void CloseWhere(Func<CachedConnection, bool> predicate)
    {
        foreach (var stack in _idle.Values)
        {
            var keep = new List<CachedConnection>();
            while (stack.TryPop(out var connection))
            {
                if (predicate(connection))
                    _ = QuitAsync(connection.Client);
                else
                    keep.Add(connection);
            }
            // Oldest last, so the most recently used is taken first and the oldest ages out.
            for (var i = keep.Count - 1; i >= 0; i--)
                stack.Push(keep[i]);
        }
    }

    /// <summary>One host: null when it could not be talked to at all (try the next host).</summary>
    private async Task<IReadOnlyList<RemoteOutcome>?> TryHostAsync(Destination destination, string host, IPAddress address, int port,
        MimeMessage message, string sender, IReadOnlyList<RemoteRecipient> recipients, string? envelopeId, TlsCheck check, HostFailure failure,
        CancellationToken cancellationToken, IReadOnlyList<TlsaRecord>? tlsa = null, bool requireTls = false, TlsPolicyReference? reference = null)
    {
        var gateway = (destination as Destination.Gateway)?.Config;
        // A connection is reused only under the TLS check it was opened with (an opportunistic one never serves enforce),
        // and only for messages of the same REQUIRETLS demand (MailKit adds the parameter per client).
        var cacheKey = $"{destination.Key}|{host}|{address}|{port}|{check}|{requireTls}";
        // A cached connection the server closed meanwhile fails on its first command; the message then goes over a
        // fresh connection (what Postfix does). Anything else is an outcome of this host.
        var cached = TakeIdle(cacheKey, gateway);
        if (cached is not null)
        {
            cached.Client.Prepare(recipients, envelopeId);
            var handedOn = false;
            try
            {
                var outcomes = await SendAsync(cached.Client, host, message, sender, recipients, cancellationToken).ConfigureAwait(false);
                ReturnIdle(cacheKey, cached);
                handedOn = true;
                return outcomes;
            }
            catch (SmtpCommandException e) when (cached.Client.IsConnected)
            {
                handedOn = true;
                return Refused(cached.Client, host, recipients, e);
            }
            catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException or SmtpCommandException or TimeoutException
                                       or ServiceNotConnectedException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Gone while it waited: once more below, on a new connection.
            }
            finally
            {
                // Failed or cancelled: a connection not handed on (to the cache or to its QUIT) is closed here.
                if (!handedOn)
                    cached.Client.Dispose();
            }
        }

        RecordingSmtpClient? client = null;
        var released = false;
        try
        {
            var connection = await ConnectAsync(gateway, host, address, port, recipients, envelopeId, check, failure,
                (destination as Destination.Domain)?.Name ?? "", tlsa ?? [], cancellationToken).ConfigureAwait(false);
            client = connection.Client;
            // TLS-RPT: one new session under the policy; in testing mode what enforce would have refused is its failure.
            if (reference is not null && failure.TestingReason is { } testing)
                sessions?.Failed(reference, failure.ResultType ?? "validation-failure", host, address, testing);
            else if (reference is not null)
                sessions?.Succeeded(reference);
            if (requireTls)
            {
                // RFC 8689 §4.2.1: TLS (checked while connecting, with certificate validation) and REQUIRETLS offered by the
                // next hop, which MailKit then passes on with MAIL FROM.
                if (!client.IsSecure)
                {
                    failure.Reason = "no TLS";
                    failure.Unmet = true;
                    return null;
                }
                if (!client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS))
                {
                    failure.Reason = "REQUIRETLS not offered";
                    failure.Unmet = true;
                    _ = QuitAsync(client);
                    released = true;
                    return null;
                }
                client.RequireTLS = true;
            }
            if (gateway?.Username is { } user)
                await client.AuthenticateAsync(user, gateway.Password ?? "", cancellationToken).ConfigureAwait(false);
            var outcomes = await SendAsync(client, host, message, sender, recipients, cancellationToken).ConfigureAwait(false);
            ReturnIdle(cacheKey, connection);
            released = true;
            return outcomes;
        }
        catch (MailKit.Security.AuthenticationException e)
        {
            // The gateway refused our credentials (535): retrying the same credentials will not help (§9.7).
            return recipients.Select(_ => (RemoteOutcome)new RemoteOutcome.PermanentFailure($"{host} refused authentication: {e.Message}", "5.7.8", host)).ToList();
        }
        catch (SmtpCommandException e) when (client is { IsConnected: true })
        {
            released = true;
            return Refused(client, host, recipients, e);
        }
        catch (NotSupportedException) when (check is TlsCheck.MtaSts or TlsCheck.Dane)
        {
            failure.Reason = "STARTTLS not offered (RFC 8461 §4.2: never plaintext)";
            failure.Unmet = true;
            failure.ResultType = "starttls-not-supported";
            return null; // the next listed host is tried
        }
        catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException or SslHandshakeException or TimeoutException
                                   or SmtpCommandException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // A refused certificate was reported by the validation callback (Reason set, Unmet marked there).
            failure.Reason ??= e.Message.ReplaceLineEndings(" ");
            return null; // this host could not be talked to: the next one is tried
        }
        catch (Exception e) when (e is MailKit.ServiceNotAuthenticatedException or MailKit.ServiceNotConnectedException or NotSupportedException)
        {
            // E.g. a gateway that wants AUTH with no credentials configured, or no TLS where Security requires it.
            return recipients.Select(_ => (RemoteOutcome)new RemoteOutcome.TemporaryFailure($"{host}: {e.Message}", "4.7.0", host)).ToList();
        }
        finally
        {
            // Failed or cancelled: a client not handed on (to the cache or to its QUIT) is closed here.
            if (client is not null && !released)
                client.Dispose();
        }
    }

    /// <summary>MAIL FROM or DATA refused (a RCPT refusal is recorded per recipient by RecordingSmtpClient).</summary>
    private static List<RemoteOutcome> Refused(RecordingSmtpClient client, string host, IReadOnlyList<RemoteRecipient> recipients, SmtpCommandException e)
    {
        var outcomes = recipients.Select(r => client.Rejected.TryGetValue(r.Address, out var rejected) ? rejected : FromReply(host, (int)e.StatusCode, e.Message)).ToList();
        _ = QuitAsync(client);
        return outcomes;
    }

    /// <summary>A new connection, greeted, with TLS as the destination asks.</summary>
    private async Task<CachedConnection> ConnectAsync(SmtpGatewayConfig? gateway, string host, IPAddress address, int port,
        IReadOnlyList<RemoteRecipient> recipients, string? envelopeId, TlsCheck check, HostFailure failure, string domain,
        IReadOnlyList<TlsaRecord> tlsa, CancellationToken cancellationToken)
    {
        var security = gateway?.Security switch
        {
            SmtpGatewaySecurity.StartTls => SecureSocketOptions.StartTls,
            SmtpGatewaySecurity.Tls => SecureSocketOptions.SslOnConnect,
            SmtpGatewaySecurity.None => SecureSocketOptions.None,
            _ => check is TlsCheck.MtaSts or TlsCheck.Dane ? SecureSocketOptions.StartTls : SecureSocketOptions.StartTlsWhenAvailable,
        };
        var client = NewClient(recipients, envelopeId, host);
        var certificateErrors = System.Net.Security.SslPolicyErrors.None;
        if (gateway is null && check == TlsCheck.Dane)
        {
            // RFC 7672 §3: the TLSA records decide, not the system's CAs; revocation is not checked (§3.1).
            client.CheckCertificateRevocation = false;
            client.ServerCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                var presented = new List<System.Security.Cryptography.X509Certificates.X509Certificate2>();
                if (certificate is not null)
                    presented.Add(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                if (chain is not null)
                    presented.AddRange(chain.ChainElements.Skip(1).Select(e => e.Certificate));
                var ok = Dane.Satisfied(tlsa, presented, host);
                if (!ok)
                {
                    failure.Reason = $"the certificate matches none of the TLSA records of _{port}._tcp.{host}";
                    failure.Unmet = true;
                    failure.ResultType = "validation-failure";
                }
                return ok;
            };
        }
        else if (gateway is null && check == TlsCheck.MtaSts)
        {
            // RFC 8461 §4.2: the MX host's certificate must chain to a trusted root and name the MX host (MailKit
            // passes the host name for the name check); nothing else is accepted. Revocation is not checked (RFC
            // 8461 does not ask it; an unreachable OCSP responder must not stop mail), as Postfix's MTA-STS does.
            client.CheckCertificateRevocation = false;
            client.ServerCertificateValidationCallback = (_, _, chain, errors) =>
            {
                if (errors != System.Net.Security.SslPolicyErrors.None)
                {
                    failure.Reason = $"the certificate is not valid for {host} ({errors})";
                    failure.Unmet = true;
                    failure.ResultType = CertificateResultType(errors, chain);
                }
                return errors == System.Net.Security.SslPolicyErrors.None;
            };
        }
        else if (gateway is null)
        {
            // Opportunistic TLS (RFC 7435): encrypt, do not authenticate; what was wrong is remembered for testing mode.
            client.ServerCertificateValidationCallback = (_, _, chain, errors) =>
            {
                certificateErrors = errors;
                if (errors != System.Net.Security.SslPolicyErrors.None)
                    failure.ResultType = CertificateResultType(errors, chain);
                return true;
            };
        }
        try
        {
            Socket socket;
            try
            {
                socket = await ConnectAsync(client, host, address, port, security, cancellationToken).ConfigureAwait(false);
                if (check == TlsCheck.Report && !client.IsSecure)
                {
                    failure.TestingReason = "STARTTLS not offered";
                    failure.ResultType = "starttls-not-supported";
                    MtaStsLog.TestingFailure(_logger, domain, host, failure.TestingReason);
                }
                else if (check == TlsCheck.Report && certificateErrors != System.Net.Security.SslPolicyErrors.None)
                {
                    failure.TestingReason = $"the certificate is not valid for {host} ({certificateErrors})";
                    MtaStsLog.TestingFailure(_logger, domain, host, failure.TestingReason);
                }
            }
            catch (Exception e) when (gateway is null && check is TlsCheck.Opportunistic or TlsCheck.Report && e is System.Security.Authentication.AuthenticationException or SslHandshakeException)
            {
                // RFC 3207 §4.1 leaves this to the client: a broken STARTTLS at an MX is retried in plaintext, as Postfix does.
                client.Dispose();
                client = NewClient(recipients, envelopeId, host);
                socket = await ConnectAsync(client, host, address, port, SecureSocketOptions.None, cancellationToken).ConfigureAwait(false);
            }
            return new CachedConnection(client, socket, gateway, Environment.TickCount64);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private RecordingSmtpClient NewClient(IReadOnlyList<RemoteRecipient> recipients, string? envelopeId, string host)
    {
        var client = new RecordingSmtpClient(host) { Timeout = (int)CommandTimeout.TotalMilliseconds, LocalDomain = heloName };
        client.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        client.Prepare(recipients, envelopeId);
        return client;
    }

    private static async Task<Socket> ConnectAsync(SmtpClient client, string host, IPAddress address, int port, SecureSocketOptions security, CancellationToken cancellationToken)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            await socket.ConnectAsync(address, port, timeout.Token).ConfigureAwait(false);
            await client.ConnectAsync(socket, host, port, security, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>One transaction (the caller then hands the connection to the cache for the next message to this host).</summary>
    private static async Task<IReadOnlyList<RemoteOutcome>> SendAsync(RecordingSmtpClient client, string host, MimeMessage message, string sender,
        IReadOnlyList<RemoteRecipient> recipients, CancellationToken cancellationToken)
    {
        var mailboxes = recipients.Select(r => MailboxAddress.Parse(ParserOptions.Default, r.Address)).ToList();
        var from = sender.Length == 0 ? new MailboxAddress("", "") : MailboxAddress.Parse(ParserOptions.Default, sender);
        string reply;
        try
        {
            reply = await client.SendAsync(FormatOptions.Default, message, from, mailboxes, cancellationToken).ConfigureAwait(false);
        }
        catch (SmtpCommandException e) when (e.ErrorCode == SmtpErrorCode.RecipientNotAccepted && client.Rejected.Count == recipients.Count)
        {
            // Every RCPT refused: MailKit sent RSET, the session is ready for the next transaction.
            reply = "";
        }
        var outcomes = recipients.Select(r => client.Rejected.TryGetValue(r.Address, out var rejected)
            ? rejected
            : new RemoteOutcome.Delivered(host, reply)).ToList();
        return outcomes;
    }

    private CachedConnection? TakeIdle(string cacheKey, SmtpGatewayConfig? gateway)
    {
        if (!_idle.TryGetValue(cacheKey, out var stack))
            return null;
        var now = Environment.TickCount64;
        while (stack.TryPop(out var connection))
        {
            // A gateway edited since (host, credentials, security) gets a new connection; so does one the server
            // closed or spoke on unasked (a 421 on its idle timeout): readable while idle means gone.
            if (connection.Expired(now, IdleTimeout, ReuseTimeLimit) || !Equals(connection.Gateway, gateway) || !connection.Client.IsConnected
                || connection.Socket.Poll(0, SelectMode.SelectRead))
            {
                _ = QuitAsync(connection.Client);
                continue;
            }
            return connection;
        }
        return null;
    }

    private void ReturnIdle(string cacheKey, CachedConnection connection)
    {
        var now = Environment.TickCount64;
        var stack = _idle.GetOrAdd(cacheKey, _ => new ConcurrentStack<CachedConnection>());
        if (!connection.Client.IsConnected || now - connection.ConnectedAt >= (long)ReuseTimeLimit.TotalMilliseconds
            || stack.Count >= config().MaxConnectionsPerDomain)
        {
            _ = QuitAsync(connection.Client);
            return;
        }
        connection.LastUsed = now;
        stack.Push(connection);
    }

    /// <summary>QUIT and close, without waiting for a slow server for long (RFC 5321 §4.1.1.10).</summary>
    private static async Task QuitAsync(RecordingSmtpClient client)
    {
        try
        {
            client.Timeout = 5000;
            if (client.IsConnected)
                await client.DisconnectAsync(true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException or SmtpCommandException or TimeoutException
                                   or OperationCanceledException or ObjectDisposedException)
        {
            // The server went away first: nothing to tell it.
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>A connected client with its socket (to see that the server closed it while it waited).</summary>
    private sealed class CachedConnection(RecordingSmtpClient client, Socket socket, SmtpGatewayConfig? gateway, long connectedAt)
    {
        public RecordingSmtpClient Client { get; } = client;
        public Socket Socket { get; } = socket;
        public SmtpGatewayConfig? Gateway { get; } = gateway;
        public long ConnectedAt { get; } = connectedAt;
        public long LastUsed { get; set; } = connectedAt;

        public bool Expired(long now, TimeSpan idle, TimeSpan reuse) =>
            now - LastUsed >= (long)idle.TotalMilliseconds || now - ConnectedAt >= (long)reuse.TotalMilliseconds;
    }

    /// <summary>RFC 8460 §4.3 result type of a certificate refused by PKIX validation.</summary>
    private static string CertificateResultType(System.Net.Security.SslPolicyErrors errors, System.Security.Cryptography.X509Certificates.X509Chain? chain)
    {
        if (errors.HasFlag(System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch))
            return "certificate-host-mismatch";
        if (chain?.ChainStatus.Any(s => s.Status.HasFlag(System.Security.Cryptography.X509Certificates.X509ChainStatusFlags.NotTimeValid)) == true)
            return "certificate-expired";
        return errors.HasFlag(System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors) ? "certificate-not-trusted" : "validation-failure";
    }

    /// <summary>An SMTP reply as an outcome: 4xx temporary, 5xx permanent (RFC 5321 §4.2.1), with its enhanced code when given.</summary>
    internal static RemoteOutcome FromReply(string host, int code, string text)
    {
        var status = text.Split(' ', 2)[0];
        var enhanced = status.Split('.') is { Length: 3 } parts && parts.All(p => p.Length > 0 && p.All(char.IsAsciiDigit)) ? status : null;
        var reason = $"{host} said: {code} {text}".ReplaceLineEndings(" ");
        return code >= 500
            ? new RemoteOutcome.PermanentFailure(reason, enhanced ?? "5.0.0", host)
            : new RemoteOutcome.TemporaryFailure(reason, enhanced ?? "4.0.0", host);
    }

    private abstract record ResolveResult
    {
        /// <param name="List">The hosts to try, in order.</param>
        /// <param name="Authenticated">The MX answer (or its NODATA) was DNSSEC-authenticated (RFC 7672 §2.2.1).</param>
        public sealed record Hosts(List<(string Host, IPAddress Address, int Port)> List, bool Authenticated = false) : ResolveResult;
        public sealed record Failed(RemoteOutcome Outcome) : ResolveResult;
    }

    private async Task<ResolveResult> ResolveAsync(Destination destination, CancellationToken cancellationToken)
    {
        if (destination is Destination.Gateway gateway)
        {
            var config = gateway.Config;
            if (IPAddress.TryParse(config.Host, out var literal))
                return new ResolveResult.Hosts([(config.Host, literal, config.Port)]);
            var addresses = await AddressesAsync(config.Host, cancellationToken).ConfigureAwait(false);
            return addresses.Count > 0
                ? new ResolveResult.Hosts(addresses.Select(a => (config.Host, a, config.Port)).ToList())
                : new ResolveResult.Failed(new RemoteOutcome.TemporaryFailure($"SMTP gateway {config.Name}: host {config.Host} does not resolve", "4.4.4", null));
        }

        var domain = ((Destination.Domain)destination).Name;
        var port = config().RemotePort;
        // RFC 5321 §4.1.3: an address literal is used as it is.
        if (domain.StartsWith('[') && domain.EndsWith(']'))
        {
            var text = domain[1..^1];
            if (text.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
                text = text[5..];
            return IPAddress.TryParse(text, out var literal)
                ? new ResolveResult.Hosts([(literal.ToString(), literal, port)]) // the bare address: MailKit takes it as the host name
                : new ResolveResult.Failed(new RemoteOutcome.PermanentFailure($"bad address literal {domain}", "5.1.2", null));
        }

        var mx = await dns.LookupMxAsync(domain, cancellationToken).ConfigureAwait(false);
        if (mx.IsTemporaryFailure)
            return new ResolveResult.Failed(new RemoteOutcome.TemporaryFailure($"DNS lookup of MX {domain} failed", "4.4.3", null));
        if (mx.Code == DnsResultCode.NameError)
            return new ResolveResult.Failed(new RemoteOutcome.PermanentFailure($"domain {domain} does not exist", "5.1.2", null));
        // RFC 7505: a single "." MX of preference 0 says the domain takes no mail.
        if (mx.Records.Count == 1 && (mx.Records[0].Exchange is "" or "."))
            return new ResolveResult.Failed(new RemoteOutcome.PermanentFailure($"domain {domain} accepts no mail (null MX)", "5.1.10", null));

        // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX.
        var exchanges = mx.Records.Count == 0 ? [domain] : mx.Records.OrderBy(r => r.Preference).Select(r => r.Exchange).ToList();
        var hosts = new List<(string, IPAddress, int)>();
        var temporary = false;
        foreach (var exchange in exchanges)
        {
            var a = await dns.LookupAddressesAsync(exchange, AddressFamily.InterNetwork, cancellationToken).ConfigureAwait(false);
            var aaaa = await dns.LookupAddressesAsync(exchange, AddressFamily.InterNetworkV6, cancellationToken).ConfigureAwait(false);
            temporary |= a.IsTemporaryFailure || aaaa.IsTemporaryFailure;
            hosts.AddRange(a.Records.Concat(aaaa.Records).Select(address => (exchange, address, port)));
        }
        if (hosts.Count > 0)
            return new ResolveResult.Hosts(hosts, mx.Authenticated);
        return temporary || mx.Records.Count > 0
            ? new ResolveResult.Failed(new RemoteOutcome.TemporaryFailure($"no address for the mail hosts of {domain}", "4.4.3", null))
            : new ResolveResult.Failed(new RemoteOutcome.PermanentFailure($"domain {domain} has no mail host", "5.1.2", null));
    }

    private async Task<List<IPAddress>> AddressesAsync(string host, CancellationToken cancellationToken)
    {
        var a = await dns.LookupAddressesAsync(host, AddressFamily.InterNetwork, cancellationToken).ConfigureAwait(false);
        var aaaa = await dns.LookupAddressesAsync(host, AddressFamily.InterNetworkV6, cancellationToken).ConfigureAwait(false);
        return a.Records.Concat(aaaa.Records).ToList();
    }

    /// <summary>
    /// MailKit's client, told not to give up on the first refused recipient (its default throws): each refusal is
    /// recorded and the others still get the message. Passes NOTIFY/ORCPT/ENVID on when the server offers DSN.
    /// <see cref="Prepare"/> sets the recipients of the next transaction on a reused connection.
    /// </summary>
    private sealed class RecordingSmtpClient(string host) : SmtpClient
    {
        private IReadOnlyList<RemoteRecipient> _recipients = [];
        private string? _envelopeId;

        public Dictionary<string, RemoteOutcome> Rejected { get; } = new(StringComparer.OrdinalIgnoreCase);

        public void Prepare(IReadOnlyList<RemoteRecipient> recipients, string? envelopeId)
        {
            _recipients = recipients;
            _envelopeId = envelopeId;
            Rejected.Clear();
        }

        protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
            Rejected[mailbox.Address] = FromReply(host, (int)response.StatusCode, response.Response);

        protected override string? GetEnvelopeId(MimeMessage message) => _envelopeId;

        protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox)
        {
            var notify = _recipients.FirstOrDefault(r => string.Equals(r.Address, mailbox.Address, StringComparison.OrdinalIgnoreCase))?.DsnNotify;
            if (string.IsNullOrEmpty(notify))
                return null;
            var flags = DeliveryStatusNotification.Never;
            foreach (var item in notify.Split(','))
                flags |= item switch
                {
                    "SUCCESS" => DeliveryStatusNotification.Success,
                    "FAILURE" => DeliveryStatusNotification.Failure,
                    "DELAY" => DeliveryStatusNotification.Delay,
                    _ => DeliveryStatusNotification.Never,
                };
            return flags;
        }
    }
}

/// <summary>
/// Told about each new session to an MX host that an MTA-STS policy or authenticated TLSA records judge, for TLS-RPT
/// (RFC 8460). Called on delivery threads: implementations must be thread-safe and must not block.
/// </summary>
public interface ITlsSessionObserver
{
    /// <summary>A session met the policy (TLS with a certificate it accepts).</summary>
    void Succeeded(TlsPolicyReference policy);

    /// <summary>A session failed the policy (refused, or only reported in MTA-STS testing mode).</summary>
    /// <param name="policy">The policy.</param>
    /// <param name="resultType">RFC 8460 §4.3 result type.</param>
    /// <param name="mxHost">The MX host; null for a failure before any MX host was tried (the policy fetch).</param>
    /// <param name="address">Its address, when a connection was made.</param>
    /// <param name="reason">What went wrong, in words.</param>
    void Failed(TlsPolicyReference policy, string resultType, string? mxHost, IPAddress? address, string reason);
}
