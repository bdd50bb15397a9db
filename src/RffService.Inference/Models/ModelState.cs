namespace RffService.Inference.Models;

public enum ModelState
{
    Loading,
    Ready,
    Failed,
}
