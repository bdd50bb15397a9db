using RffService.Training.Commands;

return Cli.Run(args);
