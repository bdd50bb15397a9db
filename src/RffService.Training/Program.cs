using RffService.Training;

return Cli.Run(args);
