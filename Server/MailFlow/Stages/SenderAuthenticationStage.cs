using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Events;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>Per-organization DMARC settings (config Dmarc.Enforce), read live on every message.</summary>
public interface IDmarcEnforcementSource
{
    /// <summary>True when the organization enforces senders' DMARC policies (the default, §12).</summary>
    bool IsEnforced(string organizationId);
}

/// <summary>
/// Stage 1, MX mail only (docs/decisions.md, "Sender authentication"): SPF, DKIM, ARC and DMARC verdicts on the message as received, then
/// DMARC enforcement per organization of the recipients — <c>reject</c> refuses that organization's recipients
/// (<see cref="RecipientRoute.Refused"/>, DMARC_POLICY_APPLIED written at once), <c>quarantine</c> is left to the
/// folder decision (<see cref="FolderPrecedenceStage"/>). Each organization's verdict is counted for its DMARC
/// aggregate reports. Any Authentication-Results field claiming our authserv-id
/// is removed (RFC 8601 §5) and ours is put right below our Received field. A fault of our own is logged and the
/// message goes on without verdicts: authentication never costs a sender the message.
/// </summary>
public sealed class SenderAuthenticationStage(
    SenderAuthenticator authenticator,
    IDmarcEnforcementSource enforcement,
    string serverName,
    ILogger<SenderAuthenticationStage> logger,
    IEmailEventLog events,
    MailServer.Server.Reports.DmarcReportLedger? reports = null) : IMailFlowStage
{
    /// <summary>Time MimeKit may take to parse the message for the checks.</summary>
    private static readonly TimeSpan ParseBudget = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    public async Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var message = context.Message;
        if (message.Client is not { } client)
            return;
        var inbound = await AuthenticateAsync(context, client, cancellationToken).ConfigureAwait(false);
        // RFC 8601 §5: a field claiming our authserv-id can only be forged; it goes even without verdicts of our own.
        // Both edits touch only the header section: it is edited on its own and the body is copied once at the end
        // (a big message is not copied once per edit).
        var original = message.Content;
        var headerEnd = original.Span.IndexOf("\r\n\r\n"u8) is var blank and >= 0 ? blank + 4 : original.Length;
        var content = AuthenticationResultsHeader.RemoveClaims(original.Span[..headerEnd], serverName);
        if (inbound is not null)
        {
            context.Authentication = inbound;
            var rejected = context.Going.Where(r => inbound.DispositionFor(r.Recipient.OrganizationId ?? "") == DmarcDisposition.Reject).ToList();
            var domain = inbound.Verdict.Dmarc.FromDomain ?? "the From domain";
            foreach (var r in rejected)
                r.Route = new RecipientRoute.Refused(Refusal.DmarcReject, domain);
            if (rejected.Count > 0)
                events.InboundRefusedByDmarc(message, rejected.Select(r => r.Recipient).ToList());
            content = InsertBelowFirstField(content, AuthenticationResultsHeader.Build(serverName, inbound.Verdict));
        }
        if (content.AsSpan().SequenceEqual(original.Span[..headerEnd]))
            return; // nothing removed, nothing added: the content stays as it is
        var whole = GC.AllocateUninitializedArray<byte>(content.Length + original.Length - headerEnd);
        content.CopyTo(whole, 0);
        original.Span[headerEnd..].CopyTo(whole.AsSpan(content.Length));
        context.Message = message with { Content = whole };
    }

    /// <summary>
    /// Puts <paramref name="field"/> right below the first header field (our Received): RFC 8601 §5 asks for it near
    /// the top with the trace fields, the order large receivers use.
    /// </summary>
    private static byte[] InsertBelowFirstField(byte[] content, string field)
    {
        var at = 0;
        // The first field ends at the first CRLF not followed by white space (RFC 5322 §2.2.3 folding).
        for (var i = content.AsSpan().IndexOf("\r\n"u8); i >= 0 && i + 2 <= content.Length; )
        {
            if (i + 2 == content.Length || (content[i + 2] != (byte)' ' && content[i + 2] != (byte)'\t'))
            {
                at = i + 2;
                break;
            }
            var next = content.AsSpan(i + 2).IndexOf("\r\n"u8);
            i = next < 0 ? -1 : i + 2 + next;
        }
        var bytes = System.Text.Encoding.ASCII.GetBytes(field);
        var result = new byte[content.Length + bytes.Length];
        content.AsSpan(0, at).CopyTo(result);
        bytes.CopyTo(result.AsSpan(at));
        content.AsSpan(at).CopyTo(result.AsSpan(at + bytes.Length));
        return result;
    }

    /// <summary>True when a header line starts with <paramref name="prefix"/> (CRLF and field name, any case).</summary>
    private static bool ContainsField(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> prefix)
    {
        if (headers.Length >= prefix.Length - 2 && System.Text.Ascii.EqualsIgnoreCase(headers[..(prefix.Length - 2)], prefix[2..]))
            return true;
        for (var i = headers.IndexOf("\r\n"u8); i >= 0 && i + prefix.Length <= headers.Length; )
        {
            if (System.Text.Ascii.EqualsIgnoreCase(headers.Slice(i, prefix.Length), prefix))
                return true;
            var next = headers[(i + 2)..].IndexOf("\r\n"u8);
            i = next < 0 ? -1 : i + 2 + next;
        }
        return false;
    }

    private async Task<InboundAuthentication?> AuthenticateAsync(MailFlowContext context, SmtpClientInfo client, CancellationToken cancellationToken)
    {
        var message = context.Message;
        var id = message.LogId;
        try
        {
            MimeMessage parsed;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                deadline.CancelAfter(ParseBudget);
                // DKIM and ARC need the body; SPF needs nothing of the message and DMARC only its From field. A message
                // without signatures is parsed as its header section alone.
                var content = message.Content;
                var headerEnd = content.Span.IndexOf("\r\n\r\n"u8);
                var headers = headerEnd < 0 ? content : content[..(headerEnd + 4)];
                var signed = ContainsField(headers.Span, "\r\nDKIM-Signature:"u8) || ContainsField(headers.Span, "\r\nARC-"u8);
                var parsedPart = signed ? content : headers;
                // Read in place when the content is an array (it is, from the SMTP door): no copy of a big message.
                using var stream = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(parsedPart, out var segment)
                    ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                    : new MemoryStream(parsedPart.ToArray(), writable: false);
                parsed = await MimeMessage.LoadAsync(stream, deadline.Token).ConfigureAwait(false);
            }
            var verdict = await authenticator.AuthenticateAsync(client.RemoteEndPoint.Address, client.HeloName, message.ReversePath, parsed, cancellationToken)
                .ConfigureAwait(false);
            var fromDomain = verdict.Dmarc.FromDomain ?? "(none)";
            logger.Verdict(id, verdict.SpfVerdictName, verdict.Spf.Domain, verdict.DkimVerdictName, verdict.DmarcVerdictName,
                verdict.DmarcPolicyName ?? "-", verdict.Arc.ToString().ToUpperInvariant(), fromDomain);
            foreach (var signature in verdict.Dkim.Where(d => d.Result != DkimResult.Pass))
                logger.DkimSignature(id, signature.Result.ToString().ToUpperInvariant(), signature.Domain, signature.Selector, signature.Algorithm, signature.Problem ?? "");

            var byOrganization = new Dictionary<string, DmarcDisposition>(StringComparer.Ordinal);
            foreach (var group in context.Going.GroupBy(r => r.Recipient.OrganizationId ?? ""))
            {
                var enforced = enforcement.IsEnforced(group.Key);
                var disposition = verdict.DispositionFor(enforced);
                byOrganization[group.Key] = disposition;
                // RFC 7489 §7.2: counted for the organization's aggregate reports (when it opted in).
                reports?.Record(group.Key, verdict, client.RemoteEndPoint.Address, disposition);
                if (disposition != DmarcDisposition.Deliver)
                    logger.PolicyApplied(id, verdict.Dmarc.AppliedPolicy.ToString()!.ToUpperInvariant(), fromDomain, group.Key, disposition.ToString(), group.Count());
                else if (!enforced && verdict.Dmarc.Result == DmarcResult.Fail)
                    logger.NotEnforced(id, fromDomain, group.Key);
            }
            return new InboundAuthentication(verdict, byOrganization);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.AuthenticationFailed(id, e);
            return null;
        }
    }
}
