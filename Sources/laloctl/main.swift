import LaloctlCommands

// laloctl's commands live in LaloctlCommands, where tests drive them in process.
Laloctl.main()
