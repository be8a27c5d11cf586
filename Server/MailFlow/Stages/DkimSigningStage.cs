using MailServer.Rules.FlowRules;
using MailServer.Server.Dkim;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 5: DKIM-signs mail a user sends (and the server's aggregate reports) for its From domain (docs/decisions.md,
/// "Sender authentication") once, before any copy is stored or
/// queued, so local and remote recipients get the same signed bytes. A domain without keys, or a message MimeKit
/// cannot take apart, goes unsigned (logged): signing never costs the sender the message.
/// </summary>
public sealed class DkimSigningStage(DkimMessageSigner signer, ILogger<DkimSigningStage> logger) : IMailFlowStage
{
    /// <inheritdoc />
    public async Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var message = context.Message;
        // Aggregate reports are signed too: receivers of reports check them (RFC 8460 §5.3, RFC 7489 §7.2.1.1).
        var outbound = message.IsSentByUser || message.Release is { Direction: FlowDirection.Outbound } || message.Origin == MessageOrigin.AggregateReport;
        if (!outbound || !signer.HasAnyKeys || !context.Going.Any())
            return;
        try
        {
            // Read in place (the SMTP door hands over an array) and parsed as persistent: MimeKit's parts refer to the
            // input instead of copying it, so a big message is copied once, into the signed output.
            using var input = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(message.Content, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(message.Content.ToArray(), writable: false);
            var parsed = await MimeKit.MimeMessage.LoadAsync(MimeKit.ParserOptions.Default, input, persistent: true, cancellationToken).ConfigureAwait(false);
            if (signer.Sign(parsed) == 0)
                return;
            var format = MimeKit.FormatOptions.Default.Clone();
            format.NewLineFormat = MimeKit.NewLineFormat.Dos;
            // Room for the signature fields up front, so the buffer is never doubled; handed on without a final copy.
            using var output = new MemoryStream(message.Content.Length + 16 * 1024);
            await parsed.WriteToAsync(format, output, cancellationToken).ConfigureAwait(false);
            context.Message = message with { Content = output.GetBuffer().AsMemory(0, (int)output.Length) };
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
        {
            QueueLog.SigningFailed(logger, e, message.LogId);
        }
    }
}
