# Services take plain values and import nothing from the ORM (see ARCHITECTURE.md).
