// Placeholder until this module has sources; delete when it does.
namespace driftwatch {}
