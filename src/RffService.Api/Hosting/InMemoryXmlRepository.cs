namespace RffService.Api.Hosting;

/// <summary>DataProtection's key ring kept in memory (nothing the service sends outlives the process).</summary>
internal sealed class InMemoryXmlRepository : Microsoft.AspNetCore.DataProtection.Repositories.IXmlRepository
{
    private readonly List<System.Xml.Linq.XElement> _elements = [];

    public IReadOnlyCollection<System.Xml.Linq.XElement> GetAllElements()
    {
        lock (_elements) return _elements.Select(e => new System.Xml.Linq.XElement(e)).ToList();
    }

    public void StoreElement(System.Xml.Linq.XElement element, string friendlyName)
    {
        lock (_elements) _elements.Add(new System.Xml.Linq.XElement(element));
    }
}
