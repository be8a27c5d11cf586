using System.Net;
using MailServer.Rules.Directory;

namespace MailServer.Rules.Sending;

/// <summary>
/// One message submitted by an authenticated user on a submission listener, or refused because the user may not send
/// in the name it used (§5). The host turns it into a §19.1 MailboxAccess record (<c>submit_email_for_sending</c>).
/// </summary>
/// <param name="OrganizationId">The organization of the authenticated user.</param>
/// <param name="UserId">The authenticated user's address.</param>
/// <param name="OwnerId">The mailbox the message goes out from: the user's own, or the user's or group's whose Send As or Send On
/// Behalf right was used (or refused). The refused address itself when it belongs to no user.</param>
/// <param name="MessageId">The message's Message-ID (as stored, so the one the server added when the client gave none);
/// null when refused at MAIL FROM, before any content.</param>
/// <param name="Allowed">False when the envelope sender or the From/Sender headers were refused (<c>550 5.7.60</c>).</param>
/// <param name="SourceAddress">The client's address.</param>
public sealed record SubmissionAttempt(
    string OrganizationId,
    string UserId,
    string OwnerId,
    string? MessageId,
    bool Allowed,
    IPAddress SourceAddress);

/// <summary>
/// Told of every submission accepted with <c>250</c> and every one refused for the sender's rights (by the SMTP
/// listener at MAIL FROM, by the mail flow for the From and Sender fields). An implementation must not block and must
/// not throw.
/// </summary>
public interface ISubmissionObserver
{
    /// <summary>Records one submission.</summary>
    void Observe(SubmissionAttempt attempt);
}

/// <summary>Whose mailbox a submission acts on, for <see cref="SubmissionAttempt.OwnerId"/>.</summary>
public static class SubmissionOwner
{
    /// <summary>The owner a send decision names; the user for its own addresses; for a refusal the user or group owning the refused address, else that address.</summary>
    public static string Of(MailDirectory directory, DirectoryUser user,
        SendDecision decision) => decision switch
    {
        SendDecision.AsOwner owner => owner.Owner,
        SendDecision.OnBehalfOf owner => owner.Owner,
        SendDecision.Refused refused => directory.PrimaryOf(refused.Address.ToLowerInvariant()) ?? refused.Address,
        _ => user.Email,
    };
}
