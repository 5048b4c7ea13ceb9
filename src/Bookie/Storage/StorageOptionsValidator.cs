using Microsoft.Extensions.Options;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Lets the host validate <see cref="StorageOptions"/> at start-up
/// (<c>services.AddSingleton&lt;IValidateOptions&lt;StorageOptions&gt;, StorageOptionsValidator&gt;()</c> plus
/// <c>ValidateOnStart()</c>) with the same rules <see cref="StorageOptions.Validate"/> enforces.
/// </summary>
public sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            return ValidateOptionsResult.Fail(e.Message);
        }
    }
}
