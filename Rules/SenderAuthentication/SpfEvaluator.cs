using System.Net;
using System.Net.Sockets;
using MailServer.Rules.Dns;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>
/// RFC 7208 check_host() over the server's one <see cref="IDnsResolver"/>: every mechanism and modifier,
/// macros (§7), the limit of 10 DNS-querying terms and of 2 void lookups (§4.6.4). Never throws for
/// anything a published record or DNS can do: those end as temperror/permerror.
/// </summary>
public sealed class SpfEvaluator
{
    /// <summary>RFC 7208 §4.6.4: terms that cause DNS queries, per evaluation.</summary>
    public const int MaxDnsLookups = 10;

    /// <summary>RFC 7208 §4.6.4: lookups answering NXDOMAIN or no records, per evaluation.</summary>
    public const int MaxVoidLookups = 2;

    /// <summary>RFC 7208 §4.6.4: MX names and PTR names looked at per mechanism.</summary>
    private const int MaxNamesPerMechanism = 10;

    /// <summary>RFC 7208 §4.6.4: an evaluation may be given up as temperror after at least 20 seconds.</summary>
    public static readonly TimeSpan DefaultTimeLimit = TimeSpan.FromSeconds(20);

    private readonly TimeSpan _timeLimit;

    private readonly IDnsResolver _dns;
    private readonly string _receiverName;
    private readonly TimeProvider _time;

    /// <summary>Creates an evaluator.</summary>
    /// <param name="dns">The resolver all lookups go through.</param>
    /// <param name="receiverName">Our host name, the <c>%{r}</c> macro.</param>
    /// <param name="time">Clock for the <c>%{t}</c> macro; system time when null.</param>
    /// <param name="timeLimit">Budget of one evaluation, after which it ends as temperror; <see cref="DefaultTimeLimit"/> when null.</param>
    public SpfEvaluator(IDnsResolver dns, string receiverName, TimeProvider? time = null, TimeSpan? timeLimit = null)
    {
        _timeLimit = timeLimit ?? DefaultTimeLimit;
        _dns = dns ?? throw new ArgumentNullException(nameof(dns));
        _receiverName = string.IsNullOrEmpty(receiverName) ? "unknown" : receiverName;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Checks the SMTP client against the MAIL FROM identity, or against the HELO identity when the reverse-path
    /// is null (RFC 7208 §2.4). A HELO name that is an address literal or not a domain gives <see cref="SpfResult.None"/>.
    /// </summary>
    /// <param name="client">The SMTP client's address.</param>
    /// <param name="reversePath">The MAIL FROM address, "" for the null reverse-path.</param>
    /// <param name="helo">The HELO/EHLO name.</param>
    /// <param name="cancellationToken">Cancels the DNS queries.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public Task<SpfVerdict> CheckAsync(IPAddress client, string reversePath, string helo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        helo ??= "";
        var at = reversePath?.LastIndexOf('@') ?? -1;
        if (!string.IsNullOrEmpty(reversePath) && at >= 0)
        {
            var domain = reversePath[(at + 1)..];
            // RFC 7208 §4.3: an empty local-part is replaced by "postmaster".
            var sender = at == 0 ? "postmaster" + reversePath : reversePath;
            return CheckHostAsync(client, domain, sender, helo, SpfIdentity.MailFrom, cancellationToken);
        }
        // RFC 7208 §2.4: with a null reverse-path the sender is postmaster@<HELO name>.
        return CheckHostAsync(client, helo, "postmaster@" + helo, helo, SpfIdentity.Helo, cancellationToken);
    }

    /// <summary>RFC 7208 §4: check_host(ip, domain, sender).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task<SpfVerdict> CheckHostAsync(IPAddress client, string domain, string sender, string helo, SpfIdentity identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (client.IsIPv4MappedToIPv6)
            client = client.MapToIPv4();
        domain = (domain ?? "").TrimEnd('.');
        var evaluation = new Evaluation(client, sender, helo ?? "");
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_timeLimit);
        try
        {
            var (result, explanation) = await CheckHostCoreAsync(evaluation, domain, budget.Token).ConfigureAwait(false);
            return new SpfVerdict(result, identity, domain, sender, client, explanation);
        }
        catch (SpfAbort abort)
        {
            return new SpfVerdict(abort.Result, identity, domain, sender, client, Problem: abort.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SpfVerdict(SpfResult.TempError, identity, domain, sender, client, Problem: $"SPF evaluation took longer than {_timeLimit.TotalSeconds:0} s");
        }
    }

    private sealed class Evaluation(IPAddress client, string sender, string helo)
    {
        public IPAddress Client { get; } = client;
        public string Sender { get; } = sender;
        public string Helo { get; } = helo;
        public int Lookups { get; set; }
        public int Voids { get; set; }
        public int Depth { get; set; }
    }

    /// <summary>Ends the whole evaluation with temperror or permerror.</summary>
    private sealed class SpfAbort(SpfResult result, string message) : Exception(message)
    {
        public SpfResult Result { get; } = result;
    }

    private async Task<(SpfResult Result, string? Explanation)> CheckHostCoreAsync(Evaluation evaluation, string domain, CancellationToken cancellationToken)
    {
        // RFC 7208 §4.3: a malformed or single-label domain gives none.
        if (!IsValidDomain(domain))
            return (SpfResult.None, null);
        // Recursion is bounded by the lookup limit already; this guards against a resolver that answers forever.
        if (++evaluation.Depth > MaxDnsLookups + 1)
            throw new SpfAbort(SpfResult.PermError, "include/redirect nesting too deep");

        var answer = await _dns.LookupTxtAsync(domain, cancellationToken).ConfigureAwait(false);
        if (answer.IsTemporaryFailure)
            throw new SpfAbort(SpfResult.TempError, $"DNS failure looking up TXT {domain}");
        // RFC 7208 §4.5: NXDOMAIN or no SPF record is none; more than one is permerror.
        var records = answer.Records.Where(SpfRecord.IsSpfRecord).ToList();
        if (records.Count == 0)
            return (SpfResult.None, null);
        if (records.Count > 1)
            throw new SpfAbort(SpfResult.PermError, $"{domain} publishes {records.Count} SPF records");
        var record = SpfRecord.Parse(records[0], out var syntaxError)
                     ?? throw new SpfAbort(SpfResult.PermError, $"{domain}: {syntaxError}");

        var context = Context(evaluation, domain);
        foreach (var directive in record.Directives)
        {
            if (await MatchesAsync(evaluation, directive, domain, context, cancellationToken).ConfigureAwait(false))
            {
                string? explanation = null;
                if (directive.Qualifier == SpfResult.Fail && record.Explanation is not null)
                    explanation = await ExplainAsync(record.Explanation, context, cancellationToken).ConfigureAwait(false);
                evaluation.Depth--;
                return (directive.Qualifier, explanation);
            }
        }

        if (record.Redirect is not null)
        {
            // RFC 7208 §6.1: redirect counts as a DNS-querying term; a target without a record is permerror.
            CountLookup(evaluation);
            var target = await TargetAsync(record.Redirect, context, cancellationToken).ConfigureAwait(false);
            var redirected = await CheckHostCoreAsync(evaluation, target, cancellationToken).ConfigureAwait(false);
            if (redirected.Result == SpfResult.None)
                throw new SpfAbort(SpfResult.PermError, $"redirect target {target} has no SPF record");
            evaluation.Depth--;
            return redirected;
        }
        evaluation.Depth--;
        // RFC 7208 §4.7: nothing matched and no redirect: neutral.
        return (SpfResult.Neutral, null);
    }

    private SpfMacroContext Context(Evaluation evaluation, string domain) => new(
        evaluation.Sender, domain, evaluation.Client, evaluation.Helo, _receiverName, _time.GetUtcNow(),
        ct => ValidatedDomainAsync(evaluation.Client, domain, ct));

    private static void CountLookup(Evaluation evaluation)
    {
        if (++evaluation.Lookups > MaxDnsLookups)
            throw new SpfAbort(SpfResult.PermError, $"more than {MaxDnsLookups} DNS lookups");
    }

    private static void CountVoid(Evaluation evaluation)
    {
        if (++evaluation.Voids > MaxVoidLookups)
            throw new SpfAbort(SpfResult.PermError, $"more than {MaxVoidLookups} void DNS lookups");
    }

    private async Task<bool> MatchesAsync(Evaluation evaluation, SpfDirective directive, string domain, SpfMacroContext context, CancellationToken cancellationToken)
    {
        var client = evaluation.Client;
        switch (directive.Mechanism)
        {
            case SpfMechanism.All:
                return true;
            case SpfMechanism.Ip4:
                return client.AddressFamily == AddressFamily.InterNetwork && InNetwork(client, directive.Network!, directive.Ip4Prefix);
            case SpfMechanism.Ip6:
                return client.AddressFamily == AddressFamily.InterNetworkV6 && InNetwork(client, directive.Network!, directive.Ip6Prefix);
            case SpfMechanism.Include:
            {
                CountLookup(evaluation);
                var target = await TargetAsync(directive.DomainSpec!, context, cancellationToken).ConfigureAwait(false);
                var (result, _) = await CheckHostCoreAsync(evaluation, target, cancellationToken).ConfigureAwait(false);
                // RFC 7208 §5.2 table: pass matches; fail/softfail/neutral do not; none is permerror.
                return result switch
                {
                    SpfResult.Pass => true,
                    SpfResult.Fail or SpfResult.SoftFail or SpfResult.Neutral => false,
                    SpfResult.TempError => throw new SpfAbort(SpfResult.TempError, $"include:{target} had a DNS failure"),
                    _ => throw new SpfAbort(SpfResult.PermError, $"include:{target} has no usable SPF record"),
                };
            }
            case SpfMechanism.A:
            {
                CountLookup(evaluation);
                var target = directive.DomainSpec is null ? domain : await TargetAsync(directive.DomainSpec, context, cancellationToken).ConfigureAwait(false);
                var addresses = await AddressesAsync(evaluation, target, countVoid: true, cancellationToken).ConfigureAwait(false);
                return addresses.Any(a => InNetwork(client, a, PrefixFor(client, directive)));
            }
            case SpfMechanism.Mx:
            {
                CountLookup(evaluation);
                var target = directive.DomainSpec is null ? domain : await TargetAsync(directive.DomainSpec, context, cancellationToken).ConfigureAwait(false);
                if (!IsValidDomain(target))
                {
                    CountVoid(evaluation);
                    return false;
                }
                var mx = await _dns.LookupMxAsync(target, cancellationToken).ConfigureAwait(false);
                if (mx.IsTemporaryFailure)
                    throw new SpfAbort(SpfResult.TempError, $"DNS failure looking up MX {target}");
                if (mx.IsVoid)
                {
                    CountVoid(evaluation);
                    return false;
                }
                // RFC 7208 §4.6.4: more than 10 MX names is a permerror for this mechanism.
                if (mx.Records.Count > MaxNamesPerMechanism)
                    throw new SpfAbort(SpfResult.PermError, $"{target} has more than {MaxNamesPerMechanism} MX records");
                foreach (var exchange in mx.Records)
                {
                    var addresses = await AddressesAsync(evaluation, exchange.Exchange, countVoid: false, cancellationToken).ConfigureAwait(false);
                    if (addresses.Any(a => InNetwork(client, a, PrefixFor(client, directive))))
                        return true;
                }
                return false;
            }
            case SpfMechanism.Ptr:
            {
                CountLookup(evaluation);
                var target = directive.DomainSpec is null ? domain : await TargetAsync(directive.DomainSpec, context, cancellationToken).ConfigureAwait(false);
                var names = await ValidatedNamesAsync(evaluation, client, cancellationToken).ConfigureAwait(false);
                return names.Any(n => IsSameOrSubdomain(n, target));
            }
            case SpfMechanism.Exists:
            {
                CountLookup(evaluation);
                var target = await TargetAsync(directive.DomainSpec!, context, cancellationToken).ConfigureAwait(false);
                // RFC 7208 §5.7: always an A query, whatever the client's address family.
                var addresses = await AddressesAsync(evaluation, target, AddressFamily.InterNetwork, countVoid: true, cancellationToken).ConfigureAwait(false);
                return addresses.Count > 0;
            }
            default:
                throw new SpfAbort(SpfResult.PermError, "unknown mechanism");
        }
    }

    private static int PrefixFor(IPAddress client, SpfDirective directive) =>
        client.AddressFamily == AddressFamily.InterNetwork ? directive.Ip4Prefix : directive.Ip6Prefix;

    private Task<IReadOnlyList<IPAddress>> AddressesAsync(Evaluation evaluation, string name, bool countVoid, CancellationToken cancellationToken) =>
        AddressesAsync(evaluation, name, evaluation.Client.AddressFamily, countVoid, cancellationToken);

    private async Task<IReadOnlyList<IPAddress>> AddressesAsync(Evaluation evaluation, string name, AddressFamily family, bool countVoid, CancellationToken cancellationToken)
    {
        if (!IsValidDomain(name))
        {
            if (countVoid)
                CountVoid(evaluation);
            return [];
        }
        var answer = await _dns.LookupAddressesAsync(name, family, cancellationToken).ConfigureAwait(false);
        if (answer.IsTemporaryFailure)
            throw new SpfAbort(SpfResult.TempError, $"DNS failure looking up addresses of {name}");
        if (answer.IsVoid && countVoid)
            CountVoid(evaluation);
        return answer.Records;
    }

    /// <summary>
    /// RFC 7208 §5.5: the client's PTR names whose forward lookup includes the client (at most 10 names looked at).
    /// DNS errors here make the mechanism not match rather than fail the evaluation.
    /// </summary>
    private async Task<IReadOnlyList<string>> ValidatedNamesAsync(Evaluation? evaluation, IPAddress client, CancellationToken cancellationToken)
    {
        var ptr = await _dns.LookupPtrAsync(client, cancellationToken).ConfigureAwait(false);
        if (ptr.IsVoid && evaluation is not null)
            CountVoid(evaluation);
        if (ptr.Code != DnsResultCode.NoError)
            return [];
        var validated = new List<string>();
        foreach (var name in ptr.Records.Take(MaxNamesPerMechanism))
        {
            var forward = await _dns.LookupAddressesAsync(name.TrimEnd('.'), client.AddressFamily, cancellationToken).ConfigureAwait(false);
            if (forward.Code == DnsResultCode.NoError && forward.Records.Any(a => a.Equals(client)))
                validated.Add(name.TrimEnd('.'));
        }
        return validated;
    }

    /// <summary>RFC 7208 §7.3 <c>%{p}</c>: a validated name under the domain, else any validated name, else "unknown".</summary>
    private async Task<string> ValidatedDomainAsync(IPAddress client, string domain, CancellationToken cancellationToken)
    {
        var names = await ValidatedNamesAsync(null, client, cancellationToken).ConfigureAwait(false);
        return names.FirstOrDefault(n => IsSameOrSubdomain(n, domain)) ?? names.FirstOrDefault() ?? "unknown";
    }

    private static bool IsSameOrSubdomain(string name, string domain) =>
        name.Equals(domain, StringComparison.OrdinalIgnoreCase)
        || name.EndsWith("." + domain, StringComparison.OrdinalIgnoreCase);

    /// <summary>Expands a domain-spec; RFC 7208 §7.3 shortens a result over 253 characters from the left.</summary>
    private static async Task<string> TargetAsync(string domainSpec, SpfMacroContext context, CancellationToken cancellationToken)
    {
        var target = (await SpfMacro.ExpandAsync(domainSpec, context, explanation: false, cancellationToken).ConfigureAwait(false)).TrimEnd('.');
        while (target.Length > 253)
        {
            var dot = target.IndexOf('.');
            if (dot < 0)
                break;
            target = target[(dot + 1)..];
        }
        return target;
    }

    /// <summary>RFC 7208 §6.2: any problem with the explanation simply means there is none.</summary>
    private async Task<string?> ExplainAsync(string domainSpec, SpfMacroContext context, CancellationToken cancellationToken)
    {
        try
        {
            var target = await TargetAsync(domainSpec, context, cancellationToken).ConfigureAwait(false);
            if (!IsValidDomain(target))
                return null;
            var answer = await _dns.LookupTxtAsync(target, cancellationToken).ConfigureAwait(false);
            if (answer.Code != DnsResultCode.NoError || answer.Records.Count != 1)
                return null;
            var text = answer.Records[0];
            if (!SpfMacro.IsValidMacroString(text, explanation: true))
                return null;
            var expanded = await SpfMacro.ExpandAsync(text, context, explanation: true, cancellationToken).ConfigureAwait(false);
            return expanded.All(c => c is >= ' ' and <= '~') ? expanded : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>RFC 7208 §4.3: at least two labels, none empty or over 63 octets, 253 octets at most.</summary>
    internal static bool IsValidDomain(string domain)
    {
        if (string.IsNullOrEmpty(domain) || domain.Length > 253)
            return false;
        var labels = domain.Split('.');
        return labels.Length >= 2 && labels.All(l => l.Length is > 0 and <= 63);
    }

    private static bool InNetwork(IPAddress address, IPAddress network, int prefix)
    {
        if (address.AddressFamily != network.AddressFamily)
            return false;
        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        var full = prefix / 8;
        for (var i = 0; i < full; i++)
        {
            if (a[i] != n[i])
                return false;
        }
        var rest = prefix % 8;
        if (rest == 0)
            return true;
        var mask = (byte)(0xFF << (8 - rest));
        return (a[full] & mask) == (n[full] & mask);
    }
}
