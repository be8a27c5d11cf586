using MailServer.Rules.Directory;

namespace MailServer.Rules.Sending;

/// <summary>In whose name an authenticated user sends (§5). A closed set.</summary>
public abstract record SendDecision
{
    private SendDecision() { }

    /// <summary>The address is one of the user's own (primary or alias).</summary>
    public sealed record AsSelf : SendDecision;

    /// <summary>Send As: the owner (the primary address of a user or a group) in From, no Sender header (the real sender stays hidden).</summary>
    public sealed record AsOwner(string Owner) : SendDecision;

    /// <summary>Send On Behalf: the owner (the primary address of a user or a group) in From, the real sender in Sender.</summary>
    public sealed record OnBehalfOf(string Owner) : SendDecision;

    /// <summary>The user may not use <see cref="Address"/>; <see cref="Reason"/> is safe to show the client.</summary>
    public sealed record Refused(string Address, string Reason) : SendDecision;
}

/// <summary>What the server does to the Sender header of a submitted message. A closed set.</summary>
public abstract record SenderHeaderChange
{
    private SenderHeaderChange() { }

    /// <summary>Leave the header section as submitted.</summary>
    public sealed record Keep : SenderHeaderChange;

    /// <summary>Remove every Sender field (Send As hides the real sender).</summary>
    public sealed record Remove : SenderHeaderChange;

    /// <summary>Replace any Sender field with this address (Send On Behalf names the real sender).</summary>
    public sealed record Set(string Address) : SenderHeaderChange;
}

/// <summary>The decision on a submitted message's From/Sender headers.</summary>
/// <param name="Decision">In whose name the message goes, or why it is refused.</param>
/// <param name="Change">What to do to the Sender header (Keep when refused).</param>
public sealed record HeaderDecision(SendDecision Decision, SenderHeaderChange Change);

/// <summary>
/// Who may send as whom on authenticated submission (§5, the [SH] enforcement list): the user's own addresses,
/// a user or group (§5: "a user or group gets Mailbox permissions and Send permissions on the group") on which the
/// user holds Send As, or Send On Behalf, directly or through nested groups (<see cref="MailDirectory.RightsOn(string, DirectoryUser)"/>).
/// Being a member of a group does not by itself let a user send as the group. Pure: reads only the directory
/// snapshot it is given.
/// </summary>
public static class SendPermission
{
    /// <summary>
    /// The envelope sender (MAIL FROM) check. The null reverse-path ("") is allowed: it claims nobody
    /// (RFC 5321 §4.5.5), and no DSN can go back to it.
    /// </summary>
    public static SendDecision ForEnvelope(MailDirectory directory, DirectoryUser user, string reversePath)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(user);
        return reversePath.Length == 0 ? new SendDecision.AsSelf() : ForAddress(directory, user, reversePath);
    }

    /// <summary>
    /// The header check: From must be an address the user may send as; a Sender header the user supplied must be
    /// one of the user's own addresses. Send As drops Sender (unless the user also holds Send On Behalf and named
    /// itself in Sender); Send On Behalf sets Sender to the user's primary address.
    /// </summary>
    public static HeaderDecision ForHeaders(MailDirectory directory, DirectoryUser user, SubmittedHeaders headers)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(headers);
        var keep = new SenderHeaderChange.Keep();
        var senderIsSelf = headers.Sender is { } s && IsOwnAddress(directory, user, s);
        if (headers.Sender is { } sender && !senderIsSelf)
            return new HeaderDecision(new SendDecision.Refused(sender, $"you may not send with {sender} in Sender"), keep);

        var decision = ForAddress(directory, user, headers.From);
        return decision switch
        {
            SendDecision.AsSelf => new HeaderDecision(decision, keep),
            SendDecision.AsOwner owner when senderIsSelf && directory.RightsOn(owner.Owner, user).HasFlag(MailboxRights.SendOnBehalf) =>
                new HeaderDecision(new SendDecision.OnBehalfOf(owner.Owner), new SenderHeaderChange.Set(user.Email)),
            SendDecision.AsOwner => new HeaderDecision(decision, new SenderHeaderChange.Remove()),
            SendDecision.OnBehalfOf => new HeaderDecision(decision, new SenderHeaderChange.Set(user.Email)),
            _ => new HeaderDecision(decision, keep),
        };
    }

    private static SendDecision ForAddress(MailDirectory directory, DirectoryUser user, string address)
    {
        if (IsOwnAddress(directory, user, address))
            return new SendDecision.AsSelf();
        if (directory.PrimaryOf(address) is { } owner)
        {
            var rights = directory.RightsOn(owner, user);
            if (rights.HasFlag(MailboxRights.SendAs))
                return new SendDecision.AsOwner(owner);
            if (rights.HasFlag(MailboxRights.SendOnBehalf))
                return new SendDecision.OnBehalfOf(owner);
        }
        return new SendDecision.Refused(address, $"you are not allowed to send as {address}");
    }

    private static bool IsOwnAddress(MailDirectory directory, DirectoryUser user, string address) =>
        directory.FindUser(address) is { } found && string.Equals(found.Email, user.Email, StringComparison.OrdinalIgnoreCase);
}
