namespace MailServer.Server.WorkMailApi;

/// <summary>
/// An error of the WorkMail API, as the wire carries it: <c>{"__type": Type, "message": Message}</c> with
/// <see cref="StatusCode"/> (400 for every WorkMail error). Thrown by operations, turned into the reply at one place
/// (<see cref="WorkMailApiEndpoints"/>).
/// </summary>
public sealed class WorkMailException(string type, string message, int statusCode = 400) : Exception(message)
{
    /// <summary>The error's shape name, e.g. EntityNotFoundException.</summary>
    public string Type { get; } = type;

    /// <summary>The HTTP status of the reply.</summary>
    public int StatusCode { get; } = statusCode;

    // The texts of the WorkMail API reference's error descriptions
    internal const string EntityNotFoundText = "The identifier supplied for the user, group, or resource does not exist in your organization.";
    internal const string EntityStateText = "You are performing an operation on a user, group, or resource that isn't in the expected state, such as trying to delete an active user.";
    internal const string InvalidParameterText = "One or more of the input parameters don't match the service's restrictions.";
    internal const string OrganizationNotFoundText = "An operation received a valid organization identifier that either doesn't belong or exist in the system.";
    internal const string OrganizationStateText = "The organization must have a valid state to perform certain operations on the organization or its members.";

    /// <summary>EntityNotFoundException with WorkMail's text, and what was not found.</summary>
    public static WorkMailException EntityNotFound(string? detail = null) =>
        new("EntityNotFoundException", detail is null ? EntityNotFoundText : $"{EntityNotFoundText} ({detail})");

    /// <summary>EntityStateException with WorkMail's text and the reason.</summary>
    public static WorkMailException EntityState(string detail) => new("EntityStateException", $"{EntityStateText} ({detail})");

    /// <summary>InvalidParameterException with WorkMail's text and the reason.</summary>
    public static WorkMailException InvalidParameter(string detail) => new("InvalidParameterException", $"{InvalidParameterText} ({detail})");

    /// <summary>OrganizationNotFoundException with WorkMail's text.</summary>
    public static WorkMailException OrganizationNotFound() => new("OrganizationNotFoundException", OrganizationNotFoundText);

    /// <summary>OrganizationStateException with WorkMail's text and the reason.</summary>
    public static WorkMailException OrganizationState(string detail) => new("OrganizationStateException", $"{OrganizationStateText} ({detail})");

    /// <summary>EmailAddressInUseException: the address belongs to another entity.</summary>
    public static WorkMailException EmailAddressInUse(string address) =>
        new("EmailAddressInUseException", $"The email address that you're trying to assign is already created for a different user, group, or resource. ({address})");

    /// <summary>MailDomainNotFoundException: the domain is not the organization's.</summary>
    public static WorkMailException MailDomainNotFound(string domain) =>
        new("MailDomainNotFoundException", $"The domain specified is not found in your organization. ({domain})");

    /// <summary>NameAvailabilityException: a user or group already has the name.</summary>
    public static WorkMailException NameAvailability(string name) =>
        new("NameAvailabilityException", $"The user, group, or resource name isn't unique in Amazon WorkMail. ({name})");
}
